"""Devices and coverage: every enrolled device, when it last reported, and which are silent."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.audit import service as audit
from console.dependencies import get_session, get_settings, get_streams
from console.devices import service
from console.devices.models import Device, DeviceRead, RevokeRequest
from console.ingest.streams import LiveStreams
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.schools.models import School
from console.settings import Settings
from console.store import utcnow
from console.templating import templates
from console.web.scope import visible_or_404

api = APIRouter(prefix="/api/devices", tags=["devices"])
pages = APIRouter(prefix="/devices", include_in_schema=False)

COVERAGE_ROLES = (Role.admin, Role.officer, Role.dsl, Role.technician, Role.governance)
MANAGE_ROLES = (Role.admin, Role.technician)


def _reads(session: Session, user: User, settings: Settings, silent_only: bool) -> list[DeviceRead]:
    now = utcnow()
    silent_after = timedelta(minutes=settings.silent_after_minutes)
    reads = []
    for device in service.list_devices(session=session, school_ids=visible_school_ids(user, session)):
        silent = service.is_silent(device, silent_after=silent_after, now=now)
        if silent or not silent_only:
            reads.append(DeviceRead.model_validate(device).model_copy(update={"silent": silent}))
    return reads


def _device_for(session: Session, user: User, device_id: str) -> Device:
    device = service.get(session=session, device_id=device_id)
    return visible_or_404(session, user, device, f"no device {device_id}")


@api.get("", response_model=list[DeviceRead])
def list_devices(
    silent: bool = False,
    user: User = Depends(require_roles(*COVERAGE_ROLES)),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> list[DeviceRead]:
    """Enrolled devices the user may see; `silent=true` lists only those not heard from recently."""
    return _reads(session, user, settings, silent)


@api.post("/{device_id}/revoke", response_model=DeviceRead, dependencies=[Depends(csrf_protect)])
def revoke_device(
    device_id: str,
    body: RevokeRequest,
    user: User = Depends(require_roles(*MANAGE_ROLES)),
    session: Session = Depends(get_session),
    streams: LiveStreams = Depends(get_streams),
) -> Device:
    """Revoke a device's certificate: its live stream is closed and every new one refused."""
    device = _device_for(session, user, device_id)
    service.revoke(session=session, device_id=device.id, reason=body.reason)
    audit.record(session=session, actor=user.username, action="revoke", object_type="device", object_id=device.id,
                 detail={"reason": body.reason})
    streams.disconnect(device.id)
    return device


@pages.get("", response_class=HTMLResponse)
def coverage_page(
    request: Request,
    user: User = Depends(require_roles(*COVERAGE_ROLES)),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> HTMLResponse:
    devices = _reads(session, user, settings, silent_only=False)
    names = {school_id: name for school_id, name in session.execute(select(School.id, School.name)).all()}
    by_school: dict[str, list[DeviceRead]] = {}
    for device in devices:
        by_school.setdefault(names.get(device.school_id, str(device.school_id)), []).append(device)
    return templates.TemplateResponse(
        request,
        "devices/coverage.html",
        {"user": user, "by_school": by_school, "silent_after": settings.silent_after_minutes},
    )
