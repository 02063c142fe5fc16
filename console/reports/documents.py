"""Each report as a document: key facts, charts and tables. The page, the PDF and the CSV are all
rendered from the same document, so the CSV holds exactly the figures the page shows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from console.documents import render_pdf
from console.reports import charts
from console.reports.models import (
    MonthlyReport,
    QuarterlyReport,
    RuleQualityReport,
    SchoolPerformance,
    StoredReport,
    WeeklyReport,
)
from console.reports.service import RISK_LEVELS


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[Any]]
    empty: str = "None."


@dataclass
class Document:
    title: str
    subtitle: str
    facts: list[tuple[str, Any]]
    tables: list[Table]
    charts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def shown(value: Any, unit: str = "") -> str:
    """A figure as printed: missing ratios are a dash rather than a misleading zero."""
    return "–" if value is None else f"{value}{unit}"


def _label(name: str) -> str:
    return name.replace("_", " ")


def _month_name(month: str) -> str:
    """'2026-10' as 'October 2026'."""
    return date.fromisoformat(f"{month}-01").strftime("%B %Y")


def monthly_document(report: MonthlyReport) -> Document:
    coverage, fps, incidents, escalations = (
        report.coverage,
        report.false_positives,
        report.incidents,
        report.escalations,
    )
    tz = ZoneInfo(report.timezone)

    def last_seen(device) -> str:
        return (
            device.last_seen_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if device.last_seen_at else "never"
        )

    categories = sorted({point.category for point in report.trend})
    trend = {
        _label(category): [
            sum(p.alerts for p in report.trend if p.month == month and p.category == category)
            for month in report.trend_months
        ]
        for category in categories
    }
    return Document(
        title=f"Monthly safeguarding report: {report.school_name}",
        subtitle=f"{_month_name(report.month)} (times in {report.timezone})",
        facts=[
            ("Devices enrolled", coverage.devices_enrolled),
            ("Devices seen", coverage.devices_seen),
            ("Coverage", shown(coverage.coverage_percent, " %")),
            ("Events received", coverage.events),
            ("Alerts", report.alerts_total),
            ("False-positive share (of triaged)", shown(fps.share_percent, " %")),
            ("Incidents raised", incidents.raised),
            ("Escalations", escalations.escalations),
            ("Escalations acknowledged", escalations.acknowledged),
            ("Mean time to acknowledge", shown(escalations.mean_ack_minutes, " min")),
            ("Acknowledged within target", shown(escalations.within_target_percent, " %")),
        ],
        charts=[
            charts.stacked_bars(
                "Alerts per month by category",
                [_month_name(month)[:3] + _month_name(month)[-5:] for month in report.trend_months],
                trend,
                "alerts",
            ),
            charts.bars(
                "Alerts by hour of day",
                [f"{h.hour:02d}" for h in report.times_of_day],
                [h.alerts for h in report.times_of_day],
                "alerts",
            ),
        ],
        tables=[
            Table(
                "Silent devices (enrolled, nothing received this month)",
                ["Hostname", "Device", "Last seen"],
                [[d.hostname, d.device_id, last_seen(d)] for d in coverage.silent],
            ),
            Table(
                "Alerts by category and risk level",
                ["Category", *(f"Risk {level}" for level in range(1, RISK_LEVELS + 1)), "Total"],
                [[_label(row.category), *row.by_risk, row.total] for row in report.alerts_by_category]
                + (
                    [["All categories", *report.alerts_by_risk, report.alerts_total]]
                    if report.alerts_by_category
                    else []
                ),
            ),
            Table(
                "Trend: alerts per month",
                ["Category", *report.trend_months],
                [[category, *counts] for category, counts in trend.items()],
            ),
            Table(
                "Triage verdicts",
                ["Alerts", "Triaged", "False positives", "False-positive share"],
                [[fps.alerts, fps.triaged, fps.false_positives, shown(fps.share_percent, " %")]],
            ),
            Table(
                "Incidents raised by category",
                ["Category", "Incidents"],
                [[_label(c.label), c.count] for c in incidents.by_category],
            ),
            Table(
                "Incident outcomes (status of the incident's case)",
                ["Outcome", "Incidents"],
                [[_label(c.label), c.count] for c in incidents.outcomes],
            ),
            Table(
                "Escalations to the DSL",
                [
                    "Escalations",
                    "Acknowledged",
                    "Mean minutes to acknowledge",
                    "Longest",
                    "With a target",
                    "Within target",
                    "Share within target",
                ],
                [
                    [
                        escalations.escalations,
                        escalations.acknowledged,
                        shown(escalations.mean_ack_minutes),
                        shown(escalations.longest_ack_minutes),
                        escalations.with_target,
                        escalations.within_target,
                        shown(escalations.within_target_percent, " %"),
                    ]
                ],
            ),
            Table(
                "Escalations by status",
                ["Status", "Escalations"],
                [[_label(c.label), c.count] for c in escalations.by_status],
            ),
            Table(
                "Alerts by year group",
                ["Year group", "Alerts"],
                [[c.label, c.count] for c in report.year_groups],
            ),
            Table(
                "Alerts by hour of day",
                ["Hour", "Alerts"],
                [[f"{h.hour:02d}:00", h.alerts] for h in report.times_of_day if h.alerts],
            ),
        ],
        notes=[
            "A device is seen when at least one event from it was received in the month.",
            "The false-positive share is of triaged alerts: alerts still new have no verdict yet.",
            "An escalation is within target when acknowledged within its acknowledgement time of starting.",
        ],
    )


# The quarterly table in three parts, each narrow enough for a portrait page: (title, columns), where
# each column is (header, the cell of a school's row).
PERFORMANCE_TABLES: list[tuple[str, list[tuple[str, Any]]]] = [
    (
        "Coverage and alerts",
        [
            ("Devices", lambda row: row.devices_enrolled),
            ("Seen", lambda row: row.devices_seen),
            ("Coverage", lambda row: shown(row.coverage_percent, " %")),
            ("Alerts", lambda row: row.alerts),
            ("Alerts per 100 devices", lambda row: shown(row.alerts_per_100_devices)),
            ("False-positive share", lambda row: shown(row.false_positive_share_percent, " %")),
        ],
    ),
    (
        "Time from alert to triage",
        [
            ("Alerts with a triage time", lambda row: row.alerts_with_triage_time),
            ("Median minutes alert to triage", lambda row: shown(row.median_alert_to_triage_minutes)),
            ("90th percentile minutes alert to triage", lambda row: shown(row.p90_alert_to_triage_minutes)),
        ],
    ),
    (
        "Incidents, escalations and cases",
        [
            ("Incidents", lambda row: row.incidents),
            ("Mean minutes incident to acknowledgement", lambda row: shown(row.mean_incident_to_ack_minutes)),
            (
                "Escalations within target",
                lambda row: f"{row.escalations_within_target}/{row.escalations_with_target}",
            ),
            ("Share within target", lambda row: shown(row.escalations_within_target_percent, " %")),
            ("Cases closed in time", lambda row: f"{row.cases_closed_in_time}/{row.cases_closed}"),
            ("Share closed in time", lambda row: shown(row.cases_closed_in_time_percent, " %")),
        ],
    ),
]


def _performance_tables(rows: list[SchoolPerformance]) -> list[Table]:
    return [
        Table(
            title,
            ["School", *(header for header, _ in columns)],
            [[r.school_name, *(cell(r) for _, cell in columns)] for r in rows],
        )
        for title, columns in PERFORMANCE_TABLES
    ]


# The quarterly charts, one bar per school: (title, the SchoolPerformance figure, unit).
QUARTERLY_CHARTS = [
    ("Coverage by school (%)", "coverage_percent", "%"),
    ("Alerts per 100 devices", "alerts_per_100_devices", "alerts"),
    ("Median minutes from alert to triage", "median_alert_to_triage_minutes", "minutes"),
]


def quarterly_document(report: QuarterlyReport) -> Document:
    overall, names = report.overall, [row.school_name for row in report.schools]
    return Document(
        title="Quarterly performance",
        subtitle=f"{report.quarter}, all schools (times in {report.timezone})",
        facts=[
            ("Coverage", shown(overall.coverage_percent, " %")),
            ("Alerts per 100 devices", shown(overall.alerts_per_100_devices)),
            ("False-positive share", shown(overall.false_positive_share_percent, " %")),
            ("Median minutes from alert to triage", shown(overall.median_alert_to_triage_minutes)),
            ("90th percentile minutes from alert to triage", shown(overall.p90_alert_to_triage_minutes)),
            (
                "Mean minutes from incident to DSL acknowledgement",
                shown(overall.mean_incident_to_ack_minutes),
            ),
            (
                "Escalations acknowledged within target",
                shown(overall.escalations_within_target_percent, " %"),
            ),
            ("Cases closed within timescale", shown(overall.cases_closed_in_time_percent, " %")),
        ],
        charts=[
            charts.bars(
                title, names, [getattr(row, figure) or 0 for row in report.schools], unit, horizontal=True
            )
            for title, figure, unit in QUARTERLY_CHARTS
        ],
        tables=_performance_tables([*report.schools, overall]),
        notes=[
            (
                "Time from alert to triage: from the alert being raised to an officer's decision on it, over"
                " the alerts raised in the quarter that have a decision time; the overall figures are over"
                " all schools' alerts together."
            ),
            "A case is closed in time when it was closed on or before its due date.",
        ],
    )


def weekly_document(report: WeeklyReport) -> Document:
    overdue = sum(1 for case in report.cases if case.days_to_deadline < 0)
    return Document(
        title="Live cases",
        subtitle=f"Week {report.week}, deadlines as of {report.as_of:%d %B %Y}",
        facts=[("Open cases", len(report.cases)), ("Overdue", overdue)],
        tables=[
            Table(
                "Open cases",
                [
                    "Case",
                    "School",
                    "Pupil",
                    "Title",
                    "Type",
                    "Severity",
                    "Status",
                    "Owner",
                    "Deadline",
                    "Days to deadline",
                    "This week",
                ],
                [
                    [
                        case.id,
                        case.school_name,
                        case.pupil,
                        case.title,
                        _label(case.type),
                        case.severity,
                        _label(case.status),
                        case.owner,
                        case.due_on.isoformat(),
                        f"{-case.days_to_deadline} overdue"
                        if case.days_to_deadline < 0
                        else case.days_to_deadline,
                        "\n".join(case.changes_this_week),
                    ]
                    for case in report.cases
                ],
            ),
            Table(
                "Allocation by officer",
                ["Officer", "Open cases", "Overdue"],
                [[o.owner, o.open_cases, o.overdue] for o in report.allocation],
            ),
        ],
        charts=[
            charts.bars(
                "Open cases per officer",
                [o.owner for o in report.allocation],
                [o.open_cases for o in report.allocation],
                "cases",
                horizontal=True,
            )
        ]
        if report.allocation
        else [],
    )


def rules_document(report: RuleQualityReport) -> Document:
    def rows(records) -> list[list[Any]]:
        return [
            [
                r.rule_id or "(classifier)",
                _label(r.category),
                r.alerts,
                r.triaged,
                r.false_positives,
                shown(r.share_percent, " %"),
            ]
            for r in records
        ]

    header = ["Rule", "Category", "Alerts", "Triaged", "False positives", "False-positive share"]
    return Document(
        title="Rule and model quality",
        subtitle=f"{report.first:%d %B %Y} to {report.last:%d %B %Y} (days in {report.timezone})",
        facts=[
            ("Alerts", sum(r.alerts for r in report.by_category)),
            ("Rules that alerted", len(report.by_rule)),
        ],
        charts=[
            charts.bars(
                "False-positive share by category (%)",
                [_label(r.category) for r in report.by_category],
                [r.share_percent or 0 for r in report.by_category],
                "%",
                horizontal=True,
            )
        ]
        if report.by_category
        else [],
        tables=[
            Table("Per rule, noisiest first", header, rows(report.by_rule)),
            Table("Per category", header[1:], [r[1:] for r in rows(report.by_category)]),
        ],
        notes=["Shares are of triaged alerts. Alerts raised by the classifier alone have no rule."],
    )


def to_csv(document: Document) -> str:
    """The document's facts and tables, one block each, separated by a blank line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([[document.title], [document.subtitle], [], ["Figure", "Value"], *document.facts])
    for table in document.tables:
        writer.writerows([[], [table.title], table.header, *table.rows])
    return buffer.getvalue()


def stored_document(stored: StoredReport) -> Document:
    return monthly_document(MonthlyReport.model_validate(stored.figures))


def pdf(document: Document) -> bytes:
    return render_pdf("reports/document.html", {"doc": document, "pdf": True})
