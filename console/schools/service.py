from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.schools.models import EnrolmentToken, Phase, School
from console.store import utcnow

TOKEN_PREFIX = "sgt_"


class EnrolmentRefused(Exception):
    """An enrolment token that cannot be used; the message says why."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(*, session: Session, name: str, phase: Phase) -> School:
    school = School(name=name, phase=Phase(phase))
    session.add(school)
    session.flush()
    return school


def get_by_name(*, session: Session, name: str) -> School | None:
    return session.scalar(select(School).where(School.name == name))


def create_enrolment_token(
    *, session: Session, school: School, days: int, max_uses: int | None = 1, created_by: str = "", label: str = ""
) -> str:
    """Create a token and return it in clear; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    session.add(
        EnrolmentToken(
            school_id=school.id,
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(days=days),
            max_uses=max_uses,
            created_by=created_by,
            label=label,
        )
    )
    session.flush()
    return token


def revoke_enrolment_token(*, session: Session, token: str) -> bool:
    record = session.scalar(select(EnrolmentToken).where(EnrolmentToken.token_hash == hash_token(token)))
    if record is None:
        return False
    record.revoked_at = record.revoked_at or utcnow()
    return True


def redeem_enrolment_token(*, session: Session, token: str, now: datetime | None = None) -> School:
    """Count one use of the token and return its school, or say why it cannot be used."""
    now = now or utcnow()
    record = session.scalar(
        select(EnrolmentToken).where(EnrolmentToken.token_hash == hash_token(token)).with_for_update()
    )
    if record is None:
        raise EnrolmentRefused("unknown enrolment token")
    if record.revoked_at is not None:
        raise EnrolmentRefused("the enrolment token was revoked")
    if record.expires_at <= now:
        raise EnrolmentRefused(f"the enrolment token expired at {record.expires_at.isoformat()}")
    if record.max_uses is not None and record.uses >= record.max_uses:
        raise EnrolmentRefused(f"the enrolment token was already used {record.uses} time(s), its limit")
    record.uses += 1
    return session.get_one(School, record.school_id)
