from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime, utcnow


class DeviceAddress(Base):
    """A device was seen at an IP address from first_seen to (at least) last_seen.

    A new row starts whenever the address is seen on a different device than it was last, so the
    rows of one address, ordered by first_seen, tell who had it when."""

    __tablename__ = "device_addresses"
    __table_args__ = (Index("ix_device_addresses_ip_first_seen", "ip", "first_seen"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class WebRequest(Base):
    """A flagged request from a web-filter log, stored once: the key (school, time, client, url) makes
    importing the same log again, or a syslog resend, a no-op. Its alerts carry event_seq = -id."""

    __tablename__ = "web_requests"
    __table_args__ = (
        UniqueConstraint("school_id", "time", "client_ip", "url_hash", name="uq_web_request"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    client_ip: Mapped[str] = mapped_column(String(45))
    url_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the url: urls are too long to index
    url: Mapped[str] = mapped_column(Text)
    user: Mapped[str] = mapped_column(String(100), default="")
    device_id: Mapped[str | None] = mapped_column(String(36), default=None)  # None: no agent seen at the address
    status: Mapped[str] = mapped_column(String(40), default="")
    method: Mapped[str] = mapped_column(String(20), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
