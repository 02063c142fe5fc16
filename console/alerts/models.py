from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime, utcnow


class AlertStatus(StrEnum):
    new = "new"
    false_positive = "false_positive"
    no_concern = "no_concern"
    monitor = "monitor"
    incident = "incident"


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # An event raises at most one alert per category, however often it is redelivered.
        UniqueConstraint("device_id", "event_seq", "category", name="uq_alert_event_category"),
        Index("ix_alerts_school_created", "school_id", "created_at"),
        Index("ix_alerts_status_risk", "status", "risk"),
        # Ingest counts each pupil's recent alerts per category (repetition raises the risk) on every commit:
        # in this order the count is grouped as the index runs, with no sort (42 -> 15 ms a set at 62,000 alerts).
        Index("ix_alerts_subject_category", "school_id", "user", "category", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    device_id: Mapped[str] = mapped_column(String(36))
    user: Mapped[str] = mapped_column(String(100), default="")
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40))
    risk: Mapped[int] = mapped_column()
    # The explanation: which rule and phrase, the model's part, the text and where the match is.
    rule_id: Mapped[str] = mapped_column(String(100), default="")
    phrase: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    match_start: Mapped[int] = mapped_column(default=0)
    match_end: Mapped[int] = mapped_column(default=0)
    application: Mapped[str] = mapped_column(String(200), default="")
    window_title: Mapped[str] = mapped_column(String(500), default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[AlertStatus] = mapped_column(String(20), default=AlertStatus.new)
    # Triage: who has it, and who decided what, when and why.
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    triaged_by: Mapped[str] = mapped_column(String(100), default="")
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    triage_reason: Mapped[str] = mapped_column(Text, default="")


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    school_id: int
    device_id: str
    user: str
    event_seq: int
    event_time: datetime
    created_at: datetime
    source: str
    category: str
    risk: int
    rule_id: str
    phrase: str
    text: str
    match_start: int
    match_end: int
    application: str
    window_title: str
    evidence: dict[str, Any]
    status: AlertStatus
    assigned_to_id: int | None
    triaged_by: str
    triaged_at: datetime | None
    triage_reason: str


class TriageDecision(StrEnum):
    false_positive = "false_positive"
    no_concern = "no_concern"
    monitor = "monitor"


class TriageRequest(BaseModel):
    decision: TriageDecision
    reason: str = ""
    # Other alerts (e.g. the rest of a group) to decide the same way.
    also: list[int] = []


class AssignRequest(BaseModel):
    # None: unassign.
    user_id: int | None


class RuleQuality(BaseModel):
    """How a rule (or the model, rule_id "") fares in triage: decided alerts and how many were false positives."""

    rule_id: str
    category: str
    decided: int
    false_positives: int

    @property
    def precision(self) -> float | None:
        return (self.decided - self.false_positives) / self.decided if self.decided else None
