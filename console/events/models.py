"""Raw events as the agents sent them. The table is kept lean: the primary key is the
only index, because (device, seq) arrives in order and de-duplicates resends."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime


class EventKind(StrEnum):
    typed_text = "typed_text"
    window_focus = "window_focus"
    web_visit = "web_visit"
    screenshot = "screenshot"
    agent_status = "agent_status"


class Event(Base):
    __tablename__ = "events"

    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[EventKind] = mapped_column(String(16))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    user: Mapped[str] = mapped_column(String(100), default="")
    # What detection scans: the typed text, the window title, or the page url and title.
    text: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Screenshot(Base):
    __tablename__ = "screenshots"
    __table_args__ = (Index("ix_screenshots_trigger", "device_id", "trigger_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    trigger_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(String(200), default="")
    image: Mapped[bytes] = mapped_column(LargeBinary)


class QuarantinedEvent(Base):
    """An event refused by validation, kept with the reason so that nothing is lost."""

    __tablename__ = "quarantined_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
