from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from console.devices.models import Device
from console.identity.ca import CertificateAuthority, IssuedCertificate
from console.schools import service as schools
from console.store import utcnow


def enrol(
    *,
    session: Session,
    ca: CertificateAuthority,
    token: str,
    csr_pem: bytes,
    hostname: str,
    os: str,
    agent_version: str,
    certificate_days: int,
) -> IssuedCertificate:
    """Exchange an enrolment token and a CSR for a device certificate (raises EnrolmentRefused)."""
    school = schools.redeem_enrolment_token(session=session, token=token)
    issued = ca.sign_device(csr_pem, school_id=school.id, days=certificate_days)
    session.add(
        Device(
            id=issued.device_id,
            school_id=school.id,
            hostname=hostname[:255],
            os=os[:100],
            agent_version=agent_version[:50],
            certificate_serial=issued.serial,
        )
    )
    session.flush()
    return issued


def get(*, session: Session, device_id: str) -> Device | None:
    return session.get(Device, device_id)


def mark_seen(*, session: Session, device_ids: set[str], at: datetime) -> None:
    """The devices were heard from at ``at`` (a later time already recorded is kept)."""
    session.execute(
        update(Device)
        .where(Device.id.in_(device_ids), or_(Device.last_seen_at.is_(None), Device.last_seen_at < at))
        .values(last_seen_at=at)
    )


def revoke(*, session: Session, device_id: str, reason: str) -> Device | None:
    device = session.get(Device, device_id)
    if device is not None and device.revoked_at is None:
        device.revoked_at = utcnow()
        device.revoked_reason = reason
    return device


def list_devices(*, session: Session, school_ids: list[int] | None) -> list[Device]:
    query = select(Device).order_by(Device.school_id, Device.hostname)
    if school_ids is not None:
        query = query.where(Device.school_id.in_(school_ids))
    return list(session.scalars(query))


def is_silent(device: Device, *, silent_after: timedelta, now: datetime) -> bool:
    return device.revoked_at is None and (device.last_seen_at is None or device.last_seen_at < now - silent_after)


def silent(*, session: Session, school_id: int | None, silent_after: timedelta, now: datetime | None = None) -> list[Device]:
    """Enrolled, unrevoked devices not heard from within ``silent_after`` (never-seen ones included)."""
    cutoff = (now or utcnow()) - silent_after
    query = select(Device).where(
        Device.revoked_at.is_(None),
        (Device.last_seen_at.is_(None)) | (Device.last_seen_at < cutoff),
    )
    if school_id is not None:
        query = query.where(Device.school_id == school_id)
    return list(session.scalars(query.order_by(Device.school_id, Device.hostname)))
