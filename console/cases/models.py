"""Governance cases: a pupil's incidents grouped, worked through a status workflow to closure."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime


class CaseType(StrEnum):
    child_protection = "child_protection"
    early_help = "early_help"
    wellbeing = "wellbeing"


class CaseStatus(StrEnum):
    new = "new"
    allocated = "allocated"
    investigating = "investigating"
    action_taken = "action_taken"
    closed = "closed"


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_school_pupil", "school_id", "pupil"), Index("ix_cases_status_due", "status", "due_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    pupil: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    type: Mapped[CaseType] = mapped_column(String(30))
    severity: Mapped[int] = mapped_column()
    status: Mapped[CaseStatus] = mapped_column(String(20), default=CaseStatus.new)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The deadline counts working days from here: the opening, or the latest reopening.
    clock_started_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    outcome: Mapped[str] = mapped_column(Text, default="")
    legal_hold: Mapped[bool] = mapped_column(default=False)
    legal_hold_reason: Mapped[str] = mapped_column(String(500), default="")


class CaseTask(Base):
    __tablename__ = "case_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    due_on: Mapped[date] = mapped_column(Date)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    done_by: Mapped[str] = mapped_column(String(100), default="")


class CaseEntry(Base):
    """The chronology: one line for everything that happened to the case, in order."""

    __tablename__ = "case_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)


class CaseDecision(Base):
    __tablename__ = "case_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)


class CaseDocument(Base):
    __tablename__ = "case_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    due_on: date
    assignee_id: int | None = None


class DecisionCreate(BaseModel):
    decision: str = Field(min_length=1)
    rationale: str = Field(min_length=1)


class CaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    school_id: int
    pupil: str
    title: str
    type: CaseType
    severity: int
    status: CaseStatus
    owner_id: int | None
    opened_at: datetime
    due_on: date
    closed_at: datetime | None
    outcome: str
    legal_hold: bool
