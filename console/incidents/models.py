"""Incident reports: raised by an officer from one or more alerts about one pupil."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from console.cases.models import CaseType
from console.store import Base, UTCDateTime


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    pupil: Mapped[str] = mapped_column(String(100))
    device_id: Mapped[str] = mapped_column(String(36))
    category: Mapped[str] = mapped_column(String(40))
    risk: Mapped[int] = mapped_column()
    summary: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The chosen evidence, copied when the incident is raised so that it outlives the raw events:
    # [{"time": iso, "kind": ..., "text": ..., "url": ..., "alert_id": int | None}, ...]
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class IncidentAlert(Base):
    __tablename__ = "incident_alerts"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    # An alert belongs to at most one incident.
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True, unique=True)


class IncidentScreenshot(Base):
    __tablename__ = "incident_screenshots"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    screenshot_id: Mapped[int] = mapped_column(ForeignKey("screenshots.id"), primary_key=True)


class IncidentCreate(BaseModel):
    alert_ids: list[int] = Field(min_length=1)
    summary: str = Field(min_length=1)
    category: str = Field(min_length=1, max_length=40)
    risk: int = Field(ge=1, le=5)
    actions: str = ""
    # Which context events go into the chronology, as "device_id:seq"; None means all of them.
    evidence_keys: list[str] | None = None
    screenshot_ids: list[int] = []
    case_type: CaseType | None = None


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    school_id: int
    case_id: int | None
    pupil: str
    device_id: str
    category: str
    risk: int
    summary: str
    actions: str
    created_by: str
    created_at: datetime
    evidence: list[dict[str, Any]]
