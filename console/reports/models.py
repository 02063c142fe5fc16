"""Stored reports and the figures each report holds.

A stored monthly report keeps its figures as JSON, so a DSL opening a past month sees exactly
what was generated then; the page, PDF and CSV are all rendered from those figures.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime, utcnow


class StoredReport(Base):
    """A school's monthly report as generated, so that a DSL can open any past month."""

    __tablename__ = "monthly_reports"
    __table_args__ = (UniqueConstraint("school_id", "month", name="uq_monthly_report_school_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    month: Mapped[str] = mapped_column(String(7))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    generated_by: Mapped[str] = mapped_column(String(100), default="")
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    # When it was emailed to the school's DSLs; None until then.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


# --- figures -------------------------------------------------------------------


class SilentDevice(BaseModel):
    device_id: str
    hostname: str
    last_seen_at: datetime | None


class Coverage(BaseModel):
    devices_enrolled: int
    devices_seen: int
    coverage_percent: float | None
    events: int
    silent: list[SilentDevice]


class CategoryRisk(BaseModel):
    category: str
    # Alerts at risk levels 1..5 (index 0 is risk 1).
    by_risk: list[int]
    total: int


class TrendPoint(BaseModel):
    month: str
    category: str
    alerts: int


class FalsePositives(BaseModel):
    alerts: int
    triaged: int
    false_positives: int
    # False positives as a share of triaged alerts (untriaged alerts have no verdict yet).
    share_percent: float | None


class HourCount(BaseModel):
    hour: int
    alerts: int


class Count(BaseModel):
    label: str
    count: int


class IncidentFigures(BaseModel):
    raised: int
    by_category: list[Count]
    # The status of each incident's case now ("no case" when it has none).
    outcomes: list[Count]


class EscalationFigures(BaseModel):
    escalations: int
    acknowledged: int
    by_status: list[Count]
    mean_ack_minutes: float | None
    longest_ack_minutes: float | None
    # Escalations with an acknowledgement target, and those acknowledged within it.
    with_target: int
    within_target: int
    within_target_percent: float | None


class MonthlyReport(BaseModel):
    school_id: int
    school_name: str
    month: str
    timezone: str
    coverage: Coverage
    alerts_by_category: list[CategoryRisk]
    alerts_by_risk: list[int]
    alerts_total: int
    trend_months: list[str]
    trend: list[TrendPoint]
    times_of_day: list[HourCount]
    # Alerts by the pupil's year group ("not known" when the pupil is not in the school's MIS data).
    year_groups: list[Count]
    false_positives: FalsePositives
    incidents: IncidentFigures
    escalations: EscalationFigures


class RuleQuality(BaseModel):
    rule_id: str
    category: str
    alerts: int
    triaged: int
    false_positives: int
    share_percent: float | None


class RuleQualityReport(BaseModel):
    first: date
    last: date
    timezone: str
    by_rule: list[RuleQuality]
    by_category: list[RuleQuality]


class SchoolPerformance(BaseModel):
    school_id: int | None
    school_name: str
    devices_enrolled: int
    devices_seen: int
    coverage_percent: float | None
    alerts: int
    alerts_per_100_devices: float | None
    false_positive_share_percent: float | None
    # Alerts raised in the period with a triage decision time, and the time from alert to that decision.
    alerts_with_triage_time: int
    median_alert_to_triage_minutes: float | None
    p90_alert_to_triage_minutes: float | None
    incidents: int
    mean_incident_to_ack_minutes: float | None
    escalations_with_target: int
    escalations_within_target: int
    escalations_within_target_percent: float | None
    cases_closed: int
    cases_closed_in_time: int
    cases_closed_in_time_percent: float | None


class QuarterlyReport(BaseModel):
    quarter: str
    timezone: str
    schools: list[SchoolPerformance]
    overall: SchoolPerformance


class LiveCase(BaseModel):
    id: int
    school_name: str
    pupil: str
    title: str
    type: str
    severity: int
    status: str
    owner: str
    due_on: date
    # Working out from the report's day; negative when overdue.
    days_to_deadline: int
    changes_this_week: list[str]


class OfficerLoad(BaseModel):
    owner: str
    open_cases: int
    overdue: int


class WeeklyReport(BaseModel):
    week: str
    as_of: date
    cases: list[LiveCase]
    allocation: list[OfficerLoad]
