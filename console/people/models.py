from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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
    # officer: which consoles they work ("primary", "secondary" or both, comma-separated).
    consoles: Mapped[str] = mapped_column(String(40), default="primary,secondary")
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
