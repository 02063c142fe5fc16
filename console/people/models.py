from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    officer = "officer"  # safeguarding officer on the primary and/or secondary console
    dsl = "dsl"  # a school's Designated Safeguarding Lead (or deputy): their own school only
    technician = "technician"  # a school's ICT technician: devices and coverage, never content
    governance = "governance"  # governance and performance staff: cases and reports
    auditor = "auditor"  # the audit log only


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    role: Mapped[Role] = mapped_column(String(20))
    # dsl and technician: the one school they belong to; others: None.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), default=None)
    # dsl: a deputy DSL rather than the school's lead.
    deputy: Mapped[bool] = mapped_column(default=False)
    # officer: which consoles they work ("primary", "secondary" or both, comma-separated).
    consoles: Mapped[str] = mapped_column(String(40), default="primary,secondary")
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def console_phases(self) -> list[str]:
        return [phase for phase in self.consoles.split(",") if phase]


class LoginSession(Base):
    """A signed-in browser. The cookie holds a random id; only its hash is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")


class ApiToken(Base):
    """A token for scripts, sent as ``Authorization: Bearer <token>``; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    email: str
    role: Role
    school_id: int | None
    deputy: bool
    consoles: str
    active: bool
    locked_until: datetime | None


class UserCreate(BaseModel):
    username: str
    password: str
    role: Role
    display_name: str = ""
    email: str = ""
    school_id: int | None = None
    deputy: bool = False
    consoles: str = "primary,secondary"
