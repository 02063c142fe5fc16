from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime, utcnow


class Device(Base):
    """An enrolled device. Its id is the common name of its client certificate."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    os: Mapped[str] = mapped_column(String(100), default="")
    certificate_serial: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_reason: Mapped[str] = mapped_column(String(500), default="")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    agent_version: Mapped[str] = mapped_column(String(50), default="")
    # Highest event seq stored: events arrive in seq order, so anything at or below it is a resend.
    stored_through_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Latest agent status report.
    cpu_percent: Mapped[float | None] = mapped_column(default=None)
    rss_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    spool_depth: Mapped[int | None] = mapped_column(BigInteger, default=None)
    dropped_events: Mapped[int] = mapped_column(BigInteger, default=0)
    policy_version: Mapped[int] = mapped_column(BigInteger, default=0)
    clone_suspected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    school_id: int
    hostname: str
    os: str
    enrolled_at: datetime
    revoked_at: datetime | None
    revoked_reason: str
    last_seen_at: datetime | None
    agent_version: str
    cpu_percent: float | None
    rss_bytes: int | None
    spool_depth: int | None
    dropped_events: int
    policy_version: int
    clone_suspected_at: datetime | None
    silent: bool = False


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=500)
