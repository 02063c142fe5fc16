"""What was sent to whom: every email and webhook, and each school's webhook endpoint."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime


class Channel(StrEnum):
    email = "email"
    webhook = "webhook"


class Delivery(Base):
    """One email or webhook call, whether it succeeded or not."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[Channel] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(300), default="")
    ok: Mapped[bool] = mapped_column()
    error: Mapped[str] = mapped_column(Text, default="")
    # What it was about, e.g. ("escalation", "12") or ("incident", "7").
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(default=None)


class Webhook(Base):
    """A school's own case system: receives new incidents and escalations, signed with the secret."""

    __tablename__ = "school_webhooks"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
