"""Users, passwords (argon2), lock-out, login sessions and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from console.people.models import ApiToken, LoginSession, Role, User
from console.schools.models import Phase, School
from console.settings import Settings
from console.store import utcnow

MIN_PASSWORD_LENGTH = 10
API_TOKEN_PREFIX = "sgk_"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that the answer takes as long either way.

    Made on first use, not at import: an argon2 hash costs real time, and every ``safeguard`` command imports this.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A user that cannot be created or changed as asked; the message says why."""


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    return _hasher.hash(password)


def get(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_by_username(*, session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.username)))


def _check_scope(session: Session, role: Role, school_id: int | None, consoles: str) -> None:
    if role in (Role.dsl, Role.technician):
        if school_id is None or session.get(School, school_id) is None:
            raise UserError(f"a {role} must belong to an existing school")
    elif school_id is not None:
        raise UserError(f"a {role} is not tied to one school")
    if role == Role.officer:
        phases = [phase for phase in consoles.split(",") if phase]
        if not phases or any(phase not in Phase.__members__ for phase in phases):
            raise UserError("an officer works the primary console, the secondary console, or both")


def create(
    *,
    session: Session,
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
    email: str = "",
    school_id: int | None = None,
    deputy: bool = False,
    consoles: str = "primary,secondary",
) -> User:
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise UserError("the username must be 1 to 100 characters without spaces")
    if get_by_username(session=session, username=username) is not None:
        raise UserError(f"the username {username!r} is taken")
    role = Role(role)
    _check_scope(session, role, school_id, consoles)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name or username,
        email=email,
        school_id=school_id,
        deputy=deputy and role == Role.dsl,
        consoles=consoles if role == Role.officer else "",
    )
    session.add(user)
    session.flush()
    return user


def set_password(*, session: Session, user: User, password: str) -> None:
    """Set a new password and sign the user out everywhere."""
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


def set_active(*, session: Session, user: User, active: bool) -> None:
    user.active = active
    if not active:
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
        for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
            token.revoked_at = utcnow()


def unlock(*, user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    problem: str = ""


def authenticate(
    *, session: Session, settings: Settings, username: str, password: str, now: datetime | None = None
) -> LoginResult:
    """Check a password, counting failures; after ``settings.max_failed_logins`` in a row the account locks for
    ``settings.lockout_minutes``."""
    now = now or utcnow()
    user = get_by_username(session=session, username=username)
    if user is None or not user.active:
        try:
            _hasher.verify(_dummy_hash(), password)
        except VerifyMismatchError:
            pass
        return LoginResult(None, "wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        return LoginResult(None, "the account is locked after repeated failed logins; try again later")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= settings.max_failed_logins:
            user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
            user.failed_logins = 0
            return LoginResult(None, "the account is locked after repeated failed logins; try again later")
        return LoginResult(None, "wrong username or password")
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return LoginResult(user)


def start_session(*, session: Session, user: User, ip: str = "") -> tuple[str, LoginSession]:
    """A new login session with a fresh random id (never one the browser brought): returns the cookie value."""
    token = secrets.token_urlsafe(32)
    record = LoginSession(token_hash=_sha256(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32), ip=ip[:64])
    session.add(record)
    session.flush()
    return token, record


def find_session(
    *, session: Session, settings: Settings, token: str, now: datetime | None = None
) -> LoginSession | None:
    """The live session for a cookie value, touched; expired ones (idle for ``settings.session_idle_minutes`` or
    older than ``settings.session_max_hours``) are deleted."""
    now = now or utcnow()
    record = session.scalar(select(LoginSession).where(LoginSession.token_hash == _sha256(token)))
    if record is None:
        return None
    idle, max_age = timedelta(minutes=settings.session_idle_minutes), timedelta(hours=settings.session_max_hours)
    if now - record.last_seen_at > idle or now - record.created_at > max_age:
        session.delete(record)
        return None
    if now - record.last_seen_at > timedelta(minutes=1):
        record.last_seen_at = now
    return record


def end_session(*, session: Session, token: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == _sha256(token)))


def create_api_token(*, session: Session, user: User, name: str) -> tuple[str, ApiToken]:
    """A new API token, returned in clear once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("an API token needs a name of 1 to 100 characters")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(token_hash=_sha256(token), user_id=user.id, name=name)
    session.add(record)
    session.flush()
    return token, record


def api_tokens(*, session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_api_token(*, session: Session, user: User, token_id: int) -> ApiToken | None:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id:
        return None
    record.revoked_at = record.revoked_at or utcnow()
    return record


def user_for_api_token(*, session: Session, token: str) -> User | None:
    record = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _sha256(token), ApiToken.revoked_at.is_(None))
    )
    if record is None:
        return None
    user = session.get(User, record.user_id)
    if user is None or not user.active:
        return None
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at > timedelta(minutes=1):
        record.last_used_at = now
    return user
