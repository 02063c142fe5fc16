"""Report figures, computed with SQL aggregates (GROUP BY in the database, never a loop over rows).

Periods are calendar months, ISO weeks and quarters in the reports' timezone (a school's month
starts at its local midnight); the database holds UTC, so periods are turned into UTC bounds first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, Integer, case, cast, func, literal, select
from sqlalchemy.orm import Session

from console.alerts.models import Alert, AlertStatus
from console.cases.models import Case, CaseEntry, CaseStatus
from console.devices.models import Device
from console.escalation.models import Escalation
from console.events.models import Event
from console.incidents.models import Incident
from console.people.models import User
from console.reports.models import (
    CategoryRisk,
    Count,
    Coverage,
    EscalationFigures,
    FalsePositives,
    HourCount,
    IncidentFigures,
    LiveCase,
    MonthlyReport,
    OfficerLoad,
    QuarterlyReport,
    RuleQuality,
    RuleQualityReport,
    SchoolPerformance,
    SilentDevice,
    StoredReport,
    TrendPoint,
    WeeklyReport,
)
from console.schools.models import Group, Pupil, School
from console.store import utcnow

TREND_MONTHS = 6
NOT_KNOWN = "not known"
RISK_LEVELS = 5


class ReportError(ValueError):
    """A report that cannot be made as asked; the message says why."""


# --- periods -------------------------------------------------------------------


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)


def _parse_month(month: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}", month) or not 1 <= int(month[5:]) <= 12:
        raise ReportError(f"month {month!r} is not of the form YYYY-MM (for example 2026-10)")
    return date(int(month[:4]), int(month[5:]), 1)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's [start, end) in UTC, from local midnight on the 1st to local midnight on the next 1st."""
    first = _parse_month(month)
    return _local_midnight(first, tz), _local_midnight(_add_months(first, 1), tz)


def quarter_bounds(quarter: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    match = re.fullmatch(r"(\d{4})-Q([1-4])", quarter)
    if match is None:
        raise ReportError(f"quarter {quarter!r} is not of the form YYYY-Qn (for example 2026-Q3)")
    first = date(int(match[1]), 3 * int(match[2]) - 2, 1)
    return _local_midnight(first, tz), _local_midnight(_add_months(first, 3), tz)


def week_bounds(week: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    match = re.fullmatch(r"(\d{4})-W(\d{2})", week)
    try:
        if match is None:
            raise ValueError
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ReportError(
            f"week {week!r} is not an ISO week of the form YYYY-Www (for example 2026-W42)"
        ) from None
    return _local_midnight(monday, tz), _local_midnight(monday + timedelta(days=7), tz)


def days_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """From local midnight starting ``first`` to local midnight ending ``last`` (both days included)."""
    if last < first:
        raise ReportError(f"the period ends ({last}) before it starts ({first})")
    return _local_midnight(first, tz), _local_midnight(last + timedelta(days=1), tz)


def previous_month(now: datetime, tz: ZoneInfo) -> str:
    first = _add_months(now.astimezone(tz).date().replace(day=1), -1)
    return f"{first:%Y-%m}"


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- figures -------------------------------------------------------------------


def _enrolled_in(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Devices enrolled for some of the period: enrolled before it ended, not revoked before it began."""
    return (Device.enrolled_at < end) & (Device.revoked_at.is_(None) | (Device.revoked_at >= start))


def coverage(*, session: Session, school_id: int, start: datetime, end: datetime) -> Coverage:
    """Devices enrolled in the period, those that sent at least one event in it, and the silent rest."""
    school_devices = select(Device.id).where(Device.school_id == school_id)
    seen = (
        select(Event.device_id, func.count().label("events"))
        .where(Event.device_id.in_(school_devices), Event.time >= start, Event.time < end)
        .group_by(Event.device_id)
        .subquery()
    )
    rows = session.execute(
        select(Device.id, Device.hostname, Device.last_seen_at, seen.c.events)
        .outerjoin(seen, seen.c.device_id == Device.id)
        .where(Device.school_id == school_id, _enrolled_in(start, end))
        .order_by(Device.hostname, Device.id)
    ).all()
    silent = [
        SilentDevice(device_id=row.id, hostname=row.hostname, last_seen_at=row.last_seen_at)
        for row in rows
        if row.events is None
    ]
    seen_count = len(rows) - len(silent)
    return Coverage(
        devices_enrolled=len(rows),
        devices_seen=seen_count,
        coverage_percent=_percent(seen_count, len(rows)),
        events=sum(row.events or 0 for row in rows),
        silent=silent,
    )


def _alerts_in(school_ids: Sequence[int] | None, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    conditions = [Alert.created_at >= start, Alert.created_at < end]
    if school_ids is not None:
        conditions.append(Alert.school_id.in_(school_ids))
    return conditions


def alerts_by_category(
    *, session: Session, school_id: int, start: datetime, end: datetime
) -> list[CategoryRisk]:
    rows = session.execute(
        select(Alert.category, Alert.risk, func.count())
        .where(*_alerts_in([school_id], start, end))
        .group_by(Alert.category, Alert.risk)
    ).all()
    table: dict[str, list[int]] = {}
    for category, risk, count in rows:
        table.setdefault(category, [0] * RISK_LEVELS)[min(max(risk, 1), RISK_LEVELS) - 1] += count
    return sorted(
        (
            CategoryRisk(category=category, by_risk=counts, total=sum(counts))
            for category, counts in table.items()
        ),
        key=lambda row: (-row.total, row.category),
    )


def trend(
    *, session: Session, school_id: int, month: str, tz: ZoneInfo, months: int = TREND_MONTHS
) -> tuple[list[str], list[TrendPoint]]:
    """Alerts per category in the report's month and the ones before it, in one grouped query."""
    first = _parse_month(month)
    labels = [f"{_add_months(first, offset):%Y-%m}" for offset in range(1 - months, 1)]
    bounds = [month_bounds(label, tz) for label in labels]
    bucket = case(*((Alert.created_at < end, index) for index, (_, end) in enumerate(bounds)))
    rows = session.execute(
        select(bucket.label("bucket"), Alert.category, func.count())
        .where(*_alerts_in([school_id], bounds[0][0], bounds[-1][1]))
        .group_by(bucket, Alert.category)
        .order_by(bucket, Alert.category)
    ).all()
    return labels, [
        TrendPoint(month=labels[index], category=category, alerts=count) for index, category, count in rows
    ]


def _utc_hour(session: Session, column) -> ColumnElement[str]:
    """The UTC hour of a timestamp as text 'YYYY-MM-DD HH', the same on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H", column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")


def times_of_day(
    *, session: Session, school_id: int, start: datetime, end: datetime, tz: ZoneInfo
) -> list[HourCount]:
    """Alerts by local hour of the pupil's activity. The database groups by UTC hour; each of those
    (at most 24 a day) is then moved to local time, which also follows daylight-saving changes."""
    hour = _utc_hour(session, Alert.event_time)
    rows = session.execute(
        select(hour, func.count()).where(*_alerts_in([school_id], start, end)).group_by(hour)
    ).all()
    counts = [0] * 24
    for utc_hour, count in rows:
        local = datetime.strptime(utc_hour, "%Y-%m-%d %H").replace(tzinfo=timezone.utc).astimezone(tz)
        counts[local.hour] += count
    return [HourCount(hour=hour, alerts=count) for hour, count in enumerate(counts)]


def _seconds_between(session: Session, start, end) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400
    return func.extract("epoch", end - start)


def _utc_date(session: Session, column) -> ColumnElement:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return func.date(func.timezone("UTC", column))


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) / 60, 1)


def incidents(*, session: Session, school_id: int, start: datetime, end: datetime) -> IncidentFigures:
    raised = [Incident.school_id == school_id, Incident.created_at >= start, Incident.created_at < end]
    by_category = session.execute(
        select(Incident.category, func.count())
        .where(*raised)
        .group_by(Incident.category)
        .order_by(func.count().desc(), Incident.category)
    ).all()
    outcome = func.coalesce(Case.status, "no case")
    outcomes = session.execute(
        select(outcome, func.count())
        .select_from(Incident)
        .outerjoin(Case, Case.id == Incident.case_id)
        .where(*raised)
        .group_by(outcome)
        .order_by(func.count().desc(), outcome)
    ).all()
    return IncidentFigures(
        raised=sum(count for _, count in by_category),
        by_category=[Count(label=label, count=count) for label, count in by_category],
        outcomes=[Count(label=label, count=count) for label, count in outcomes],
    )


def _escalation_target(session: Session):
    """(has a target, acknowledged within it): within ``ack_minutes`` of the escalation starting."""
    waited = _seconds_between(session, Escalation.started_at, Escalation.acknowledged_at)
    with_target = func.sum(case((Escalation.ack_minutes.is_not(None), 1), else_=0))
    within = func.sum(
        case((Escalation.acknowledged_at.is_not(None) & (waited <= Escalation.ack_minutes * 60), 1), else_=0)
    )
    return func.coalesce(with_target, 0), func.coalesce(within, 0)


def escalations(*, session: Session, school_id: int, start: datetime, end: datetime) -> EscalationFigures:
    started = [Escalation.school_id == school_id, Escalation.started_at >= start, Escalation.started_at < end]
    by_status = session.execute(
        select(Escalation.status, func.count())
        .where(*started)
        .group_by(Escalation.status)
        .order_by(Escalation.status)
    ).all()
    waited = _seconds_between(session, Escalation.started_at, Escalation.acknowledged_at)
    acknowledged, mean, longest, with_target, within = session.execute(
        select(
            func.count(Escalation.acknowledged_at),
            func.avg(waited),
            func.max(waited),
            *_escalation_target(session),
        ).where(*started)
    ).one()
    return EscalationFigures(
        escalations=sum(count for _, count in by_status),
        acknowledged=acknowledged,
        by_status=[Count(label=label, count=count) for label, count in by_status],
        mean_ack_minutes=_minutes(mean),
        longest_ack_minutes=_minutes(longest),
        with_target=with_target,
        within_target=within,
        within_target_percent=_percent(within, with_target),
    )


def year_groups(*, session: Session, school_id: int, start: datetime, end: datetime) -> list[Count]:
    """Alerts by the year group of the pupil signed in on the device."""
    group = func.coalesce(Group.name, NOT_KNOWN)
    rows = session.execute(
        select(group, func.count())
        .select_from(Alert)
        .outerjoin(Pupil, (Pupil.school_id == Alert.school_id) & (Pupil.username == Alert.user))
        .outerjoin(Group, Group.id == Pupil.year_group_id)
        .where(*_alerts_in([school_id], start, end))
        .group_by(group)
    ).all()
    return [
        Count(label=label, count=count)
        for label, count in sorted(rows, key=lambda row: (row[0] == NOT_KNOWN, row[0]))
    ]


def _verdicts():
    triaged = func.sum(case((Alert.status != AlertStatus.new, 1), else_=0))
    false_positives = func.sum(case((Alert.status == AlertStatus.false_positive, 1), else_=0))
    return func.count(), func.coalesce(triaged, 0), func.coalesce(false_positives, 0)


def false_positives(
    *, session: Session, school_ids: Sequence[int] | None, start: datetime, end: datetime
) -> FalsePositives:
    alerts, triaged, fps = session.execute(
        select(*_verdicts()).where(*_alerts_in(school_ids, start, end))
    ).one()
    return FalsePositives(
        alerts=alerts, triaged=triaged, false_positives=fps, share_percent=_percent(fps, triaged)
    )


def rule_quality(
    *, session: Session, first: date, last: date, tz: ZoneInfo, school_ids: Sequence[int] | None = None
) -> RuleQualityReport:
    """Per rule and per category: alerts and the share officers marked as false positives."""
    conditions = _alerts_in(school_ids, *days_bounds(first, last, tz))
    by_rule = session.execute(
        select(Alert.rule_id, Alert.category, *_verdicts())
        .where(*conditions)
        .group_by(Alert.rule_id, Alert.category)
    ).all()
    by_category = session.execute(
        select(Alert.category, *_verdicts()).where(*conditions).group_by(Alert.category)
    ).all()

    def row(rule_id: str, category: str, alerts: int, triaged: int, fps: int) -> RuleQuality:
        return RuleQuality(
            rule_id=rule_id,
            category=category,
            alerts=alerts,
            triaged=triaged,
            false_positives=fps,
            share_percent=_percent(fps, triaged),
        )

    def noisiest(rows: list[RuleQuality]) -> list[RuleQuality]:
        return sorted(rows, key=lambda r: (-(r.share_percent or 0), -r.alerts, r.category, r.rule_id))

    return RuleQualityReport(
        first=first,
        last=last,
        timezone=tz.key,
        by_rule=noisiest([row(*values) for values in by_rule]),
        by_category=noisiest([row("", *values) for values in by_category]),
    )


def monthly(*, session: Session, school_id: int, month: str, tz: ZoneInfo) -> MonthlyReport:
    school = session.get(School, school_id)
    if school is None:
        raise ReportError(f"no school {school_id}")
    start, end = month_bounds(month, tz)
    by_category = alerts_by_category(session=session, school_id=school_id, start=start, end=end)
    labels, points = trend(session=session, school_id=school_id, month=month, tz=tz)
    return MonthlyReport(
        school_id=school.id,
        school_name=school.name,
        month=month,
        timezone=tz.key,
        coverage=coverage(session=session, school_id=school_id, start=start, end=end),
        alerts_by_category=by_category,
        alerts_by_risk=[sum(row.by_risk[level] for row in by_category) for level in range(RISK_LEVELS)],
        alerts_total=sum(row.total for row in by_category),
        trend_months=labels,
        trend=points,
        times_of_day=times_of_day(session=session, school_id=school_id, start=start, end=end, tz=tz),
        year_groups=year_groups(session=session, school_id=school_id, start=start, end=end),
        false_positives=false_positives(session=session, school_ids=[school_id], start=start, end=end),
        incidents=incidents(session=session, school_id=school_id, start=start, end=end),
        escalations=escalations(session=session, school_id=school_id, start=start, end=end),
    )


TRIAGE_PERCENTILES = (0.5, 0.9)


def triage_times(
    *, session: Session, start: datetime, end: datetime, by_school: bool
) -> dict[int | None, tuple[int, float | None, float | None]]:
    """Time from alert to triage decision for alerts raised in [start, end): per school (or overall,
    keyed None) the number of alerts with a decision time, and the median and 90th percentile in seconds.

    Both percentiles are continuous (interpolated), as PostgreSQL's ``percentile_cont``, which is used
    there; elsewhere (SQLite) the same figure is computed in SQL from each duration's rank within its
    group, so only one row per school leaves the database either way."""
    waited = _seconds_between(session, Alert.created_at, Alert.triaged_at)
    timed = [*_alerts_in(None, start, end), Alert.triaged_at.is_not(None)]
    group = [Alert.school_id] if by_school else []
    if session.get_bind().dialect.name == "postgresql":
        percentiles = [func.percentile_cont(p).within_group(waited) for p in TRIAGE_PERCENTILES]
        query = select(*group, func.count(), *percentiles).where(*timed)
    else:
        ranked = (
            select(
                *(column.label("school_id") for column in group),
                waited.label("waited"),
                func.row_number().over(partition_by=group or None, order_by=waited).label("rank"),
                func.count().over(partition_by=group or None).label("n"),
            )
            .where(*timed)
            .subquery()
        )

        def percentile(p: float) -> ColumnElement[float]:
            # percentile_cont: the value at 0-based position p * (n - 1), interpolated between its neighbours.
            position = literal(p, Float) * (ranked.c.n - 1)
            below = cast(position, Integer)  # the floor, as positions are never negative
            fraction = position - below
            return func.sum(
                case((ranked.c.rank == below + 1, ranked.c.waited * (1 - fraction)), else_=0)
                + case((ranked.c.rank == below + 2, ranked.c.waited * fraction), else_=0)
            )

        group = [ranked.c.school_id] if by_school else []
        query = select(*group, func.max(ranked.c.n), *(percentile(p) for p in TRIAGE_PERCENTILES))
    if group:
        query = query.group_by(*group)
    rows = session.execute(query).all()
    if not by_school:
        return {None: tuple(rows[0]) if rows and rows[0][0] else (0, None, None)}
    return {school_id: (count, median, p90) for school_id, count, median, p90 in rows}


def quarterly(*, session: Session, quarter: str, tz: ZoneInfo) -> QuarterlyReport:
    """KPIs per school and overall; each figure is one grouped query over all schools."""
    start, end = quarter_bounds(quarter, tz)

    def per_school(query) -> dict[int, tuple]:
        return {school_id: tuple(values) for school_id, *values in session.execute(query).all()}

    active = (
        select(Event.device_id)
        .where(Event.time >= start, Event.time < end)
        .group_by(Event.device_id)
        .subquery()
    )
    # Devices enrolled in the quarter and, of those, the ones seen: one grouped query.
    devices = per_school(
        select(Device.school_id, func.count(), func.count(active.c.device_id))
        .outerjoin(active, active.c.device_id == Device.id)
        .where(_enrolled_in(start, end))
        .group_by(Device.school_id)
    )
    verdicts = per_school(
        select(Alert.school_id, *_verdicts()).where(*_alerts_in(None, start, end)).group_by(Alert.school_id)
    )
    raised = [Incident.created_at >= start, Incident.created_at < end]
    first_ack = (
        select(Escalation.incident_id, func.min(Escalation.acknowledged_at).label("at"))
        .where(Escalation.acknowledged_at.is_not(None))
        .group_by(Escalation.incident_id)
        .subquery()
    )
    to_ack = _seconds_between(session, Incident.created_at, first_ack.c.at)
    incident_rows = per_school(
        select(Incident.school_id, func.count(), func.sum(to_ack), func.count(first_ack.c.at))
        .outerjoin(first_ack, first_ack.c.incident_id == Incident.id)
        .where(*raised)
        .group_by(Incident.school_id)
    )
    targets = per_school(
        select(Escalation.school_id, *_escalation_target(session))
        .where(Escalation.started_at >= start, Escalation.started_at < end)
        .group_by(Escalation.school_id)
    )
    in_time = func.sum(case((_utc_date(session, Case.closed_at) <= Case.due_on, 1), else_=0))
    closed = per_school(
        select(Case.school_id, func.count(), func.coalesce(in_time, 0))
        .where(Case.closed_at >= start, Case.closed_at < end)
        .group_by(Case.school_id)
    )

    triage = triage_times(session=session, start=start, end=end, by_school=True)

    def performance(
        school_id: int | None,
        name: str,
        figures: dict[str, tuple],
        triaged: tuple[int, float | None, float | None],
    ) -> SchoolPerformance:
        enrolled, seen_devices = figures["devices"]
        timed, median, p90 = triaged
        alerts, triaged, fps = figures["verdicts"]
        incident_count, ack_seconds, acknowledged = figures["incidents"]
        with_target, within = figures["targets"]
        cases_closed, closed_in_time = figures["closed"]
        return SchoolPerformance(
            school_id=school_id,
            school_name=name,
            devices_enrolled=enrolled,
            devices_seen=seen_devices,
            coverage_percent=_percent(seen_devices, enrolled),
            alerts=alerts,
            alerts_per_100_devices=round(100 * alerts / enrolled, 1) if enrolled else None,
            false_positive_share_percent=_percent(fps, triaged),
            alerts_with_triage_time=timed,
            median_alert_to_triage_minutes=_minutes(median),
            p90_alert_to_triage_minutes=_minutes(p90),
            incidents=incident_count,
            mean_incident_to_ack_minutes=_minutes(ack_seconds / acknowledged) if acknowledged else None,
            escalations_with_target=with_target,
            escalations_within_target=within,
            escalations_within_target_percent=_percent(within, with_target),
            cases_closed=cases_closed,
            cases_closed_in_time=closed_in_time,
            cases_closed_in_time_percent=_percent(closed_in_time, cases_closed),
        )

    tables = {
        "devices": (devices, (0, 0)),
        "verdicts": (verdicts, (0, 0, 0)),
        "incidents": (incident_rows, (0, 0, 0)),
        "targets": (targets, (0, 0)),
        "closed": (closed, (0, 0)),
    }
    schools = session.execute(select(School.id, School.name).order_by(School.name)).all()
    rows = [
        performance(
            school_id,
            name,
            {key: table.get(school_id, empty) for key, (table, empty) in tables.items()},
            triage.get(school_id, (0, None, None)),
        )
        for school_id, name in schools
    ]
    # Overall: sums of the schools' counts, so the means and shares are weighted by volume; the
    # percentiles are of all schools' alerts together (a median of medians would be another figure).
    totals = {
        key: tuple(sum(values[index] or 0 for values in table.values()) for index in range(len(empty)))
        for key, (table, empty) in tables.items()
    }
    overall_triage = triage_times(session=session, start=start, end=end, by_school=False)[None]
    return QuarterlyReport(
        quarter=quarter,
        timezone=tz.key,
        schools=rows,
        overall=performance(None, "All schools", totals, overall_triage),
    )


def weekly(*, session: Session, week: str, tz: ZoneInfo, today: date) -> WeeklyReport:
    """Every open case with its owner and deadline, what changed in the week, and each officer's load.

    Days to deadline count from ``today``, or from the week's last day for a past week."""
    start, end = week_bounds(week, tz)
    as_of = min(today, (end - timedelta(seconds=1)).astimezone(tz).date())
    owner = func.coalesce(func.nullif(User.display_name, ""), User.username, "(unallocated)")
    open_cases = [Case.status != CaseStatus.closed, Case.opened_at < end]
    cases = session.execute(
        select(Case, School.name, owner)
        .join(School, School.id == Case.school_id)
        .outerjoin(User, User.id == Case.owner_id)
        .where(*open_cases)
        .order_by(Case.due_on, Case.id)
    ).all()
    entries = session.execute(
        select(CaseEntry.case_id, CaseEntry.at, CaseEntry.actor, CaseEntry.text)
        .join(Case, Case.id == CaseEntry.case_id)
        .where(*open_cases, CaseEntry.at >= start, CaseEntry.at < end)
        .order_by(CaseEntry.case_id, CaseEntry.at, CaseEntry.id)
    ).all()
    changes: dict[int, list[str]] = {}
    for case_id, at, actor, text in entries:
        changes.setdefault(case_id, []).append(f"{at.astimezone(tz):%a %d %b %H:%M} {actor}: {text}")
    overdue = func.sum(case((Case.due_on < as_of, 1), else_=0))
    allocation = session.execute(
        select(owner, func.count(), func.coalesce(overdue, 0))
        .select_from(Case)
        .outerjoin(User, User.id == Case.owner_id)
        .where(*open_cases)
        .group_by(owner)
        .order_by(func.count().desc(), owner)
    ).all()
    return WeeklyReport(
        week=week,
        as_of=as_of,
        cases=[
            LiveCase(
                id=record.id,
                school_name=school_name,
                pupil=record.pupil,
                title=record.title,
                type=record.type,
                severity=record.severity,
                status=record.status,
                owner=owner_name,
                due_on=record.due_on,
                days_to_deadline=(record.due_on - as_of).days,
                changes_this_week=changes.get(record.id, []),
            )
            for record, school_name, owner_name in cases
        ],
        allocation=[
            OfficerLoad(owner=name, open_cases=count, overdue=late) for name, count, late in allocation
        ],
    )


# --- stored reports --------------------------------------------------------------


def store_monthly(*, session: Session, report: MonthlyReport, generated_by: str) -> StoredReport:
    """Keep a monthly report; regenerating the same month replaces its figures (it is not emailed again)."""
    figures = report.model_dump(mode="json")
    stored = get_stored(session=session, school_id=report.school_id, month=report.month)
    if stored is None:
        stored = StoredReport(
            school_id=report.school_id, month=report.month, figures=figures, generated_by=generated_by
        )
        session.add(stored)
    else:
        stored.figures, stored.generated_by, stored.generated_at = figures, generated_by, utcnow()
    session.flush()
    return stored


def get_stored(*, session: Session, school_id: int, month: str) -> StoredReport | None:
    """A school's stored monthly report."""
    return session.scalar(
        select(StoredReport).where(StoredReport.school_id == school_id, StoredReport.month == month)
    )


def list_stored(*, session: Session, school_ids: Sequence[int] | None = None) -> list[StoredReport]:
    query = select(StoredReport)
    if school_ids is not None:
        query = query.where(StoredReport.school_id.in_(school_ids))
    return list(session.scalars(query.order_by(StoredReport.month.desc(), StoredReport.school_id)))


def generate_monthly(
    *, session: Session, school_id: int, month: str, tz: ZoneInfo, generated_by: str
) -> StoredReport:
    report = monthly(session=session, school_id=school_id, month=month, tz=tz)
    return store_monthly(session=session, report=report, generated_by=generated_by)
