"""Alerts: the triage queue (filtered, grouped), the evidence around one alert, and triage decisions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from console.alerts.models import Alert, AlertStatus, RuleQuality, TriageDecision
from console.audit.models import AuditEntry
from console.detect import Finding
from console.detect.scoring import adjust_for_repetition
from console.events.models import Event, Screenshot
from console.settings import Settings
from console.store import fetch_rows, utcnow

CONTEXT_EVENTS = 15
GROUP_WINDOW = timedelta(hours=24)
# Alerts about the same pupil and category in this window raise the risk of the next one.
REPETITION_WINDOW = timedelta(days=7)
REVEAL_ACTION = "reveal_screenshot"


class TriageError(ValueError):
    """A triage action that cannot be done as asked; the message says why."""


@dataclass
class QueueFilters:
    school_id: int | None = None
    category: str | None = None
    min_risk: int | None = None
    status: AlertStatus | None = AlertStatus.new
    assigned_to_id: int | None = None


@dataclass
class AlertGroup:
    """Alerts about one pupil in one category within GROUP_WINDOW of each other, shown as one line."""

    alerts: list[Alert] = field(default_factory=list)

    @property
    def lead(self) -> Alert:
        """The one to show: the highest risk, then the oldest."""
        return min(self.alerts, key=lambda alert: (-alert.risk, alert.created_at, alert.id))

    @property
    def count(self) -> int:
        return len(self.alerts)

    @property
    def risk(self) -> int:
        return self.lead.risk

    @property
    def oldest(self) -> datetime:
        return min(alert.created_at for alert in self.alerts)

    @property
    def ids(self) -> list[int]:
        return sorted(alert.id for alert in self.alerts)


def list_alerts(
    *,
    session: Session,
    school_ids: Sequence[int] | None = None,
    status: AlertStatus | None = None,
    category: str | None = None,
    min_risk: int | None = None,
    school_id: int | None = None,
    assigned_to_id: int | None = None,
    limit: int = 500,
) -> list[Alert]:
    """Alerts in the given schools (None: all), highest risk first, then oldest first."""
    query = select(Alert)
    if school_ids is not None:
        query = query.where(Alert.school_id.in_(school_ids))
    if school_id is not None:
        query = query.where(Alert.school_id == school_id)
    if status is not None:
        query = query.where(Alert.status == status)
    if category is not None:
        query = query.where(Alert.category == category)
    if min_risk is not None:
        query = query.where(Alert.risk >= min_risk)
    if assigned_to_id is not None:
        query = query.where(Alert.assigned_to_id == assigned_to_id)
    return list(session.scalars(query.order_by(Alert.risk.desc(), Alert.created_at, Alert.id).limit(limit)))


def group_alerts(alerts: Sequence[Alert], *, window: timedelta = GROUP_WINDOW) -> list[AlertGroup]:
    """Group by school, pupil and category, starting a new group after a gap longer than ``window``;
    groups come highest risk first, then longest waiting first."""
    groups: list[AlertGroup] = []
    ordered = sorted(alerts, key=lambda a: (a.school_id, a.user, a.category, a.event_time, a.id))
    current: AlertGroup | None = None
    for alert in ordered:
        if (
            current is not None
            and alert.user
            and (current.lead.school_id, current.lead.user, current.lead.category)
            == (alert.school_id, alert.user, alert.category)
            and alert.event_time - max(a.event_time for a in current.alerts) <= window
        ):
            current.alerts.append(alert)
            continue
        current = AlertGroup([alert])
        groups.append(current)
    return sorted(groups, key=lambda group: (-group.risk, group.oldest, group.lead.id))


def queue(
    *, session: Session, school_ids: Sequence[int] | None, filters: QueueFilters, window: timedelta = GROUP_WINDOW
) -> list[AlertGroup]:
    alerts = list_alerts(
        session=session,
        school_ids=school_ids,
        status=filters.status,
        category=filters.category,
        min_risk=filters.min_risk,
        school_id=filters.school_id,
        assigned_to_id=filters.assigned_to_id,
    )
    return group_alerts(alerts, window=window)


def group_of(*, session: Session, alert: Alert, window: timedelta = GROUP_WINDOW) -> list[Alert]:
    """The other new alerts grouped with this one in the queue (same pupil and category, close in time)."""
    if not alert.user:
        return []
    siblings = session.scalars(
        select(Alert).where(
            Alert.school_id == alert.school_id,
            Alert.user == alert.user,
            Alert.category == alert.category,
            Alert.status == AlertStatus.new,
            Alert.id != alert.id,
        )
    )
    for group in group_alerts([alert, *siblings], window=window):
        if alert in group.alerts:
            return [other for other in group.alerts if other.id != alert.id]
    return []


def categories(*, session: Session) -> list[str]:
    return list(session.scalars(select(Alert.category).distinct().order_by(Alert.category)))


def latest_id(*, session: Session, school_ids: Sequence[int] | None) -> int:
    query = select(func.max(Alert.id))
    if school_ids is not None:
        query = query.where(Alert.school_id.in_(school_ids))
    return session.scalar(query) or 0


def get(*, session: Session, alert_id: int) -> Alert | None:
    return session.get(Alert, alert_id)


def prior_alert_counts(
    *, session: Session, subjects: Iterable[tuple[int, str]], now: datetime, after_id: int = 0
) -> defaultdict[tuple[int, str, str], int]:
    """Alerts per (school_id, user, category) created in the REPETITION_WINDOW before now, for the given
    (school_id, user) pairs: what adjust_for_repetition needs. Users are compared as stored (100 characters).
    Only alerts with an id above ``after_id`` count: ingest's way to add what was committed after a snapshot it
    counted in (a new row's id is above every one visible then)."""
    counts: defaultdict[tuple[int, str, str], int] = defaultdict(int)
    pairs = {(school_id, user[:100]) for school_id, user in subjects}
    if not pairs:
        return counts
    query = (
        select(Alert.school_id, Alert.user, Alert.category, func.count())
        .where(
            Alert.id > after_id,
            Alert.school_id.in_({school_id for school_id, _ in pairs}),
            Alert.user.in_({user for _, user in pairs}),
            Alert.created_at >= now - REPETITION_WINDOW,
        )
        .group_by(Alert.school_id, Alert.user, Alert.category)
    )
    for school_id, user, category, count in fetch_rows(session, query):
        counts[(school_id, user, category)] = count
    return counts


def alert_row(
    *,
    finding: Finding,
    prior_alerts: int,
    now: datetime,
    school_id: int,
    device_id: str,
    user: str,
    event_seq: int,
    event_time: datetime,
    source: str,
    text: str,
    application: str = "",
    window_title: str = "",
    evidence: dict[str, Any] | None = None,
    span: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The alerts-table row for one finding (one category) about one event: the risk after repetition, the
    rule and phrase that matched and where (span overrides the first hit's span, for text that is not the
    scanned text), and the evidence (the caller's own items first, then the rule and model explanation)."""
    first = finding.hits[0] if finding.hits else None
    start, end = span if span is not None else ((first.start, first.end) if first else (0, 0))
    return {
        "school_id": school_id,
        "device_id": device_id,
        "user": user[:100],
        "event_seq": event_seq,
        "event_time": event_time,
        "created_at": now,
        "source": source,
        "category": finding.category,
        "risk": adjust_for_repetition(finding.risk, prior_alerts),
        "rule_id": first.rule_id if first else "",
        "phrase": first.phrase[:300] if first else "",
        "text": text,
        "match_start": start,
        "match_end": end,
        "application": application[:200],
        "window_title": window_title[:500],
        "evidence": {**(evidence or {}), "prior_alerts": prior_alerts, **finding_evidence(finding)},
        "status": "new",
    }


def finding_evidence(finding: Finding) -> dict[str, Any]:
    """What an alert's evidence says of its finding: the rule's risk, the rules' hits and the model's part (the
    caller's own items and the number of prior alerts come first)."""
    return {
        "rule_risk": finding.risk,
        "hits": [{"rule": hit.rule_id, "phrase": hit.phrase, "start": hit.start, "end": hit.end} for hit in finding.hits],
        "model_score": finding.model_score,
        "model_features": list(finding.model_features),
    }


def context_events(*, session: Session, alert: Alert, around: int = CONTEXT_EVENTS) -> list[Event]:
    """The device's events just before and after the alert's event (by seq: the primary key). Web-filter
    alerts come from the proxy's log, not from the device's event stream: they have none."""
    if alert.source == "weblog":
        return []
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.device_id == alert.device_id,
                Event.seq.between(alert.event_seq - around, alert.event_seq + around),
                Event.kind != "agent_status",
            )
            .order_by(Event.seq)
        )
    )


def pupil_history(*, session: Session, alert: Alert, limit: int = 10) -> list[Alert]:
    """The same pupil's other alerts at the same school, newest first."""
    if not alert.user:
        return []
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.school_id == alert.school_id, Alert.user == alert.user, Alert.id != alert.id)
            .order_by(Alert.event_time.desc())
            .limit(limit)
        )
    )


def screenshots(*, session: Session, alert: Alert) -> list[Screenshot]:
    return list(
        session.scalars(
            select(Screenshot).where(
                Screenshot.device_id == alert.device_id, Screenshot.trigger_seq == alert.event_seq
            )
        )
    )


def screenshot_of(*, session: Session, alert: Alert, screenshot_id: int) -> Screenshot | None:
    shot = session.get(Screenshot, screenshot_id)
    if shot is None or shot.device_id != alert.device_id or shot.trigger_seq != alert.event_seq:
        return None
    return shot


def is_explicit(alert: Alert, *, settings: Settings) -> bool:
    """Screenshots of these are blurred until an officer reveals them with a reason."""
    return alert.category in settings.explicit_categories


def revealed_ids(*, session: Session, username: str, screenshot_ids: Sequence[int]) -> set[int]:
    """The screenshots this user has revealed (the audit log is the record of each reveal)."""
    if not screenshot_ids:
        return set()
    rows = session.scalars(
        select(AuditEntry.object_id).where(
            AuditEntry.actor == username,
            AuditEntry.action == REVEAL_ACTION,
            AuditEntry.object_type == "screenshot",
            AuditEntry.object_id.in_([str(i) for i in screenshot_ids]),
        )
    )
    return {int(value) for value in rows}


def assign(*, alert: Alert, user_id: int | None) -> None:
    alert.assigned_to_id = user_id


def triage(*, alert: Alert, decision: TriageDecision, reason: str, actor: str, now: datetime | None = None) -> None:
    """Record an officer's decision; a false positive needs a reason (it feeds the rule and model figures)."""
    decision = TriageDecision(decision)
    reason = reason.strip()
    if decision == TriageDecision.false_positive and not reason:
        raise TriageError("say why this is a false positive")
    if alert.status == AlertStatus.incident:
        raise TriageError(f"alert {alert.id} is already part of an incident")
    alert.status = AlertStatus(decision.value)
    alert.triage_reason = reason
    alert.triaged_by = actor
    alert.triaged_at = now or utcnow()


def mark_in_incident(*, alert: Alert, incident_id: int, actor: str, now: datetime) -> None:
    """Raising an incident is the alert's triage decision: it counts in the time-to-triage figures."""
    alert.status = AlertStatus.incident
    alert.triage_reason = f"raised as incident {incident_id}"
    alert.triaged_by = actor
    alert.triaged_at = now


def rule_quality(*, session: Session, school_ids: Sequence[int] | None = None) -> list[RuleQuality]:
    """Per rule (rule_id "" is the model alone): decided alerts and false positives, worst first."""
    false_positive = func.sum(case((Alert.status == AlertStatus.false_positive, 1), else_=0))
    query = (
        select(Alert.rule_id, Alert.category, func.count(), false_positive)
        .where(Alert.status != AlertStatus.new)
        .group_by(Alert.rule_id, Alert.category)
    )
    if school_ids is not None:
        query = query.where(Alert.school_id.in_(school_ids))
    rows = [
        RuleQuality(rule_id=rule_id, category=category, decided=decided, false_positives=int(fp or 0))
        for rule_id, category, decided, fp in session.execute(query)
    ]
    return sorted(rows, key=lambda row: (-(row.false_positives / row.decided), row.rule_id))
