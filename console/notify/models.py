"""What was sent to whom: every email and webhook, each school's webhook endpoint, and the webhook outbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
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


class WebhookMessage(Base):
    """A webhook call to make (the outbox). Written in the same transaction as what it tells (so a rolled-back
    incident is never announced), sent by ``flows.send_webhooks`` once that has committed, retried with backoff
    until the school's endpoint takes it. Deleted once delivered (each attempt stays as a ``Delivery``); kept when
    given up, until an officer sends it again or dismisses it."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_due", "next_attempt_at"),
                      Index("ix_webhook_messages_object", "object_type", "object_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    event: Mapped[str] = mapped_column(String(60))  # "incident.created", "escalation.notified"
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    # When to try next; None once given up (nothing more will be tried).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When a sender took it; a claim older than flows.WEBHOOK_CLAIM_TIMEOUT is taken over (that sender died).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
