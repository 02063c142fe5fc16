"""Every figure of every report, against a history whose counts are known (tests/reports/history.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from console.reports import service
from console.store import transaction
from reports.history import History, build

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def history(sessions: sessionmaker[Session]) -> History:
    with transaction(sessions) as session:
        return build(session)


def test_monthly_report_figures(sessions: sessionmaker[Session], history: History) -> None:
    with transaction(sessions) as session:
        report = service.monthly(session=session, school_id=history.hillside, month="2026-10", tz=LONDON)

    assert report.school_name == "Hillside School"
    coverage = report.coverage
    # pc1, pc2, pc3, pc6 (revoked mid-month), pc7, pc8; not pc4 (enrolled later) nor pc5 (revoked before).
    assert coverage.devices_enrolled == 6
    # pc7's only event is 00:30 on 1 October in London; pc8's is in November.
    assert coverage.devices_seen == 4
    assert coverage.coverage_percent == 66.7
    assert coverage.events == 7
    assert [(d.hostname, d.last_seen_at) for d in coverage.silent] == [
        ("hs-pc2", datetime(2026, 9, 25, 15, tzinfo=timezone.utc)),
        ("hs-pc8", datetime(2026, 11, 1, tzinfo=timezone.utc)),
    ]

    assert [(row.category, row.by_risk, row.total) for row in report.alerts_by_category] == [
        ("bullying", [0, 3, 0, 1, 0], 4),
        ("self_harm", [0, 0, 1, 0, 2], 3),
    ]
    assert report.alerts_by_risk == [0, 3, 1, 1, 2]
    assert report.alerts_total == 7

    assert report.trend_months == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert [(p.month, p.category, p.alerts) for p in report.trend] == [
        ("2026-08", "self_harm", 1),
        ("2026-09", "bullying", 2),
        ("2026-10", "bullying", 4),
        ("2026-10", "self_harm", 3),
    ]

    # 13:15 UTC is 14:15 BST; 14:05 UTC after the clocks went back is 14:05 GMT;
    # 23:30 UTC on 30 Sept is 00:30.
    assert {h.hour: h.alerts for h in report.times_of_day if h.alerts} == {0: 1, 9: 1, 14: 5}
    assert len(report.times_of_day) == 24

    assert [(c.label, c.count) for c in report.year_groups] == [
        ("Year 7", 4),
        ("Year 9", 2),
        ("not known", 1),
    ]

    fps = report.false_positives
    assert (fps.alerts, fps.triaged, fps.false_positives, fps.share_percent) == (7, 6, 3, 50.0)

    incidents = report.incidents
    assert incidents.raised == 3
    assert [(c.label, c.count) for c in incidents.by_category] == [("self_harm", 2), ("bullying", 1)]
    assert sorted((c.label, c.count) for c in incidents.outcomes) == [
        ("closed", 1),
        ("investigating", 1),
        ("no case", 1),
    ]

    escalations = report.escalations
    assert escalations.escalations == 4
    assert escalations.acknowledged == 2
    assert [(c.label, c.count) for c in escalations.by_status] == [
        ("acknowledged", 2),
        ("digested", 1),
        ("exhausted", 1),
    ]
    assert escalations.mean_ack_minutes == 37.5  # 15 and 60 minutes
    assert escalations.longest_ack_minutes == 60.0
    assert (escalations.with_target, escalations.within_target, escalations.within_target_percent) == (
        3,
        1,
        33.3,
    )


def test_monthly_report_of_a_quiet_month(sessions: sessionmaker[Session], history: History) -> None:
    with transaction(sessions) as session:
        report = service.monthly(session=session, school_id=history.brookfield, month="2026-07", tz=LONDON)
    assert report.coverage.devices_enrolled == 0
    assert report.coverage.coverage_percent is None
    assert report.alerts_total == 0 and report.alerts_by_category == [] and report.trend == []
    assert report.false_positives.share_percent is None
    assert report.incidents.raised == 0 and report.escalations.mean_ack_minutes is None


def test_quarterly_performance(sessions: sessionmaker[Session], history: History) -> None:
    with transaction(sessions) as session:
        report = service.quarterly(session=session, quarter="2026-Q4", tz=LONDON)
    brookfield, hillside = report.schools  # ordered by name
    assert hillside.school_name == "Hillside School"
    assert (hillside.devices_enrolled, hillside.devices_seen, hillside.coverage_percent) == (7, 5, 71.4)
    assert (hillside.alerts, hillside.alerts_per_100_devices, hillside.false_positive_share_percent) == (
        7,
        100.0,
        50.0,
    )
    # Minutes from alert to triage, sorted: 4, 6, 10, 30, 60, 480. Continuous percentiles: the median is
    # halfway between the 3rd and 4th; the 90th at position 0.9 * 5 = 4.5, halfway between 60 and 480.
    assert hillside.alerts_with_triage_time == 6
    assert (hillside.median_alert_to_triage_minutes, hillside.p90_alert_to_triage_minutes) == (20.0, 270.0)
    assert hillside.incidents == 3
    assert hillside.mean_incident_to_ack_minutes == 43.5  # 17 and 70 minutes; the third never acknowledged
    assert (
        hillside.escalations_with_target,
        hillside.escalations_within_target,
        hillside.escalations_within_target_percent,
    ) == (3, 1, 33.3)
    # A closed on 20 Oct, due 25 Oct; C closed 10 Nov, due 3 Nov.
    assert (hillside.cases_closed, hillside.cases_closed_in_time, hillside.cases_closed_in_time_percent) == (
        2,
        1,
        50.0,
    )

    assert (brookfield.devices_enrolled, brookfield.devices_seen, brookfield.coverage_percent) == (
        1,
        1,
        100.0,
    )
    assert (
        brookfield.alerts,
        brookfield.alerts_per_100_devices,
        brookfield.false_positive_share_percent,
    ) == (4, 400.0, 0.0)
    # 2 and 5 minutes: the 90th percentile is at 0.9 of the way from 2 to 5.
    assert brookfield.alerts_with_triage_time == 2
    assert (brookfield.median_alert_to_triage_minutes, brookfield.p90_alert_to_triage_minutes) == (3.5, 4.7)
    assert brookfield.incidents == 0 and brookfield.mean_incident_to_ack_minutes is None
    assert brookfield.cases_closed == 0 and brookfield.cases_closed_in_time_percent is None

    overall = report.overall
    assert (overall.devices_enrolled, overall.devices_seen, overall.coverage_percent) == (8, 6, 75.0)
    assert (overall.alerts, overall.alerts_per_100_devices, overall.false_positive_share_percent) == (
        11,
        137.5,
        37.5,
    )
    # All eight together (2, 4, 5, 6, 10, 30, 60, 480), not a median of the schools' medians:
    # the median is halfway between 6 and 10; the 90th at position 6.3, 0.3 of the way from 60 to 480.
    assert overall.alerts_with_triage_time == 8
    assert (overall.median_alert_to_triage_minutes, overall.p90_alert_to_triage_minutes) == (8.0, 186.0)
    assert (overall.incidents, overall.mean_incident_to_ack_minutes) == (3, 43.5)
    assert (
        overall.escalations_within_target,
        overall.escalations_with_target,
        overall.cases_closed_in_time,
        overall.cases_closed,
    ) == (1, 3, 1, 2)


def test_triage_time_of_a_single_decision_and_of_none(
    sessions: sessionmaker[Session], history: History
) -> None:
    with transaction(sessions) as session:
        report = service.quarterly(session=session, quarter="2026-Q3", tz=LONDON)
    brookfield, hillside = report.schools
    # Hillside's one decided Q3 alert: raised 10 September, decided 2 October (22 days).
    assert (hillside.alerts, hillside.alerts_with_triage_time) == (3, 1)
    assert (hillside.median_alert_to_triage_minutes, hillside.p90_alert_to_triage_minutes) == (
        31680.0,
        31680.0,
    )
    assert (report.overall.median_alert_to_triage_minutes, report.overall.p90_alert_to_triage_minutes) == (
        31680.0,
        31680.0,
    )
    assert (brookfield.alerts_with_triage_time, brookfield.median_alert_to_triage_minutes) == (0, None)
    with transaction(sessions) as session:
        empty = service.quarterly(session=session, quarter="2025-Q1", tz=LONDON)
    assert (empty.overall.alerts_with_triage_time, empty.overall.p90_alert_to_triage_minutes) == (0, None)


def test_weekly_live_cases(sessions: sessionmaker[Session], history: History) -> None:
    with transaction(sessions) as session:
        report = service.weekly(session=session, week="2026-W44", tz=LONDON, today=date(2026, 11, 24))
    assert report.as_of == date(2026, 11, 1)  # a past week: deadlines as of its Sunday
    # Open now and opened by the week's end: B, D, E (A and C are closed, F was opened later).
    assert [
        (c.title, c.school_name, c.status, c.owner, c.due_on, c.days_to_deadline) for c in report.cases
    ] == [
        ("B", "Hillside School", "investigating", "Sam Officer", date(2026, 10, 30), -2),
        ("D", "Brookfield Primary", "allocated", "Sam Officer", date(2026, 11, 6), 5),
        ("E", "Hillside School", "new", "(unallocated)", date(2026, 11, 13), 12),
    ]
    assert [c.changes_this_week for c in report.cases] == [
        ["Tue 27 Oct 10:00 sam: Spoke to pupil"],
        [],
        ["Fri 30 Oct 12:00 sam: Case opened"],
    ]
    assert [(o.owner, o.open_cases, o.overdue) for o in report.allocation] == [
        ("Sam Officer", 2, 1),
        ("(unallocated)", 1, 0),
    ]


def test_weekly_deadlines_count_from_today_in_the_current_week(
    sessions: sessionmaker[Session], history: History
) -> None:
    with transaction(sessions) as session:
        report = service.weekly(session=session, week="2026-W44", tz=LONDON, today=date(2026, 10, 28))
    assert report.as_of == date(2026, 10, 28)
    assert [c.days_to_deadline for c in report.cases] == [2, 9, 16]
    assert [(o.owner, o.overdue) for o in report.allocation] == [("Sam Officer", 0), ("(unallocated)", 0)]


def test_rule_quality(sessions: sessionmaker[Session], history: History) -> None:
    with transaction(sessions) as session:
        report = service.rule_quality(
            session=session, first=date(2026, 10, 1), last=date(2026, 10, 31), tz=LONDON
        )
    assert [
        (r.rule_id, r.category, r.alerts, r.triaged, r.false_positives, r.share_percent)
        for r in report.by_rule
    ] == [
        ("", "self_harm", 1, 1, 1, 100.0),
        ("bullying.insults", "bullying", 5, 3, 2, 66.7),
        ("self_harm.intent", "self_harm", 2, 2, 0, 0.0),
        ("bullying.threats", "bullying", 1, 0, 0, None),
    ]
    assert [
        (r.category, r.alerts, r.triaged, r.false_positives, r.share_percent) for r in report.by_category
    ] == [
        ("bullying", 6, 3, 2, 66.7),
        ("self_harm", 3, 3, 1, 33.3),
    ]
    with transaction(sessions) as session:
        only_brookfield = service.rule_quality(
            session=session,
            first=date(2026, 10, 1),
            last=date(2026, 10, 31),
            tz=LONDON,
            school_ids=[history.brookfield],
        )
    assert [(r.rule_id, r.alerts, r.share_percent) for r in only_brookfield.by_rule] == [
        ("bullying.insults", 2, None)
    ]


def test_stored_monthly_report_is_replaced_when_regenerated(
    sessions: sessionmaker[Session], history: History
) -> None:
    with transaction(sessions) as session:
        first = service.generate_monthly(
            session=session, school_id=history.hillside, month="2026-10", tz=LONDON, generated_by="a"
        )
        assert first.figures["alerts_total"] == 7
    with transaction(sessions) as session:
        again = service.generate_monthly(
            session=session, school_id=history.hillside, month="2026-10", tz=LONDON, generated_by="b"
        )
        assert again.id == first.id and again.generated_by == "b"
        assert [s.month for s in service.list_stored(session=session, school_ids=[history.hillside])] == [
            "2026-10"
        ]
        assert service.list_stored(session=session, school_ids=[history.brookfield]) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: service.month_bounds("2026-13", LONDON), "month '2026-13' is not of the form YYYY-MM"),
        (lambda: service.month_bounds("October", LONDON), "month 'October' is not of the form YYYY-MM"),
        (lambda: service.quarter_bounds("2026-Q5", LONDON), "quarter '2026-Q5' is not of the form YYYY-Qn"),
        (lambda: service.week_bounds("2026-W54", LONDON), "week '2026-W54' is not an ISO week"),
        (lambda: service.week_bounds("2026-44", LONDON), "week '2026-44' is not an ISO week"),
        (
            lambda: service.days_bounds(date(2026, 10, 31), date(2026, 10, 1), LONDON),
            "the period ends (2026-10-01) before it starts",
        ),
    ],
)
def test_bad_periods_are_refused_with_a_reason(call, message: str) -> None:
    with pytest.raises(service.ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_monthly_report_of_an_unknown_school(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session, pytest.raises(service.ReportError, match="no school 999"):
        service.monthly(session=session, school_id=999, month="2026-10", tz=LONDON)


def test_month_bounds_follow_local_midnight() -> None:
    assert service.month_bounds("2026-10", LONDON) == (
        datetime(2026, 9, 30, 23, tzinfo=timezone.utc),
        datetime(2026, 11, 1, 0, tzinfo=timezone.utc),
    )
    assert service.previous_month(datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc), LONDON) == "2025-12"
