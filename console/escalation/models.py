"""Escalation of incidents to a school's DSL and deputies, with an acknowledgement timer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime


class ContactRole(StrEnum):
    dsl = "dsl"
    deputy = "deputy"
    last_responder = "last_responder"


class Contact(Base):
    """One person on a school's ordered escalation list: position 0 is asked first."""

    __tablename__ = "escalation_contacts"
    __table_args__ = (UniqueConstraint("school_id", "position", name="uq_contact_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    position: Mapped[int] = mapped_column()
    role: Mapped[ContactRole] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))


class Rule(Base):
    """A school's rule for one risk level; levels without a row use the settings' defaults."""

    __tablename__ = "escalation_rules"
    __table_args__ = (UniqueConstraint("school_id", "level", name="uq_rule_level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    level: Mapped[int] = mapped_column()
    # Minutes each contact has to acknowledge before the next is asked; None: the daily digest.
    ack_minutes: Mapped[int | None] = mapped_column(default=None)


class EscalationStatus(StrEnum):
    awaiting_ack = "awaiting_ack"
    acknowledged = "acknowledged"
    exhausted = "exhausted"  # every contact was asked and none acknowledged in time
    digest_pending = "digest_pending"
    digested = "digested"


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_due", "status", "ack_due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    level: Mapped[int] = mapped_column()
    status: Mapped[EscalationStatus] = mapped_column(String(20))
    ack_minutes: Mapped[int | None] = mapped_column(default=None)
    # Position in the contact list of the contact asked last.
    contact_position: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acknowledged_by: Mapped[str] = mapped_column(String(300), default="")
    # The contact just asked, whose email is still to go: it is sent after the asking transaction commits (never
    # inside it, so a slow mail server holds no request and no lock); the acknowledgement timer starts when it goes.
    pending_contact_id: Mapped[int | None] = mapped_column(default=None)
    # When a sender took the pending email; a claim older than flows.CLAIM_TIMEOUT is taken again.
    pending_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ContactCreate(BaseModel):
    role: ContactRole
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)


class EscalationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    school_id: int
    level: int
    status: EscalationStatus
    contact_position: int
    started_at: datetime
    ack_due_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str
