from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime


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
