"""The hot path in two steps (prepare without a lock, write with it) stays exactly-once when two writers
prepare the same batches: what the other stored in between is dropped in the write, alerts with it, and
alerts count the ones committed after the snapshot they were prepared in. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta, timezone

import pytest
from safeguard_proto.v1 import agent_pb2 as pb
from sqlalchemy import select, text

from console.alerts.models import Alert
from console.alerts.service import alert_row
from console.detect import ScanItem
from console.detection import build_detector
from console.ingest.service import prepare_batches, write_prepared
from console.ingest.validate import Limits
from console.settings import Settings
from console.store import transaction, utcnow
from support.ingest_rows import new_device, new_device_in, stored_rows, typed_batch

LIMITS = Limits(max_batch_events=1000, max_text_chars=10_000, max_future_skew=timedelta(minutes=5), max_age=timedelta(days=30))


@pytest.fixture(scope="module")
def detector():
    return build_detector(Settings(classifier_enabled=False))


def _prepare(sessions, detector, batches):
    with transaction(sessions) as session:
        return prepare_batches(session=session, detector=detector, batches=batches, limits=LIMITS, now=utcnow())


def _write(sessions, prepared):
    with transaction(sessions) as session:
        return write_prepared(session=session, prepared=prepared)


def test_a_set_prepared_by_two_writers_is_stored_once(sessions, detector):
    device_id, school_id = new_device(sessions)
    batch = typed_batch(device_id, school_id, range(1, 11), alarming={3, 8})
    first, second = _prepare(sessions, detector, [batch]), _prepare(sessions, detector, [batch])
    [stored] = _write(sessions, first)
    [again] = _write(sessions, second)
    assert (stored.stored, stored.alerts, stored.acked_through_seq) == (10, 2, 10)
    assert (again.stored, again.alerts, again.acked_through_seq, again.rejected) == (0, 0, 10, [])
    assert stored_rows(sessions, device_id) == (list(range(1, 11)), [3, 8], 10)


def test_what_another_writer_stored_in_between_is_dropped_and_the_rest_written(sessions, detector):
    device_id, school_id = new_device(sessions)
    longer = _prepare(sessions, detector, [typed_batch(device_id, school_id, range(1, 11), alarming={3, 8})])
    shorter = _prepare(sessions, detector, [typed_batch(device_id, school_id, range(1, 6), alarming={3})])
    [first] = _write(sessions, shorter)
    [rest] = _write(sessions, longer)
    assert (first.stored, first.alerts, first.acked_through_seq) == (5, 1, 5)
    assert (rest.stored, rest.alerts, rest.acked_through_seq) == (5, 1, 10)
    assert stored_rows(sessions, device_id) == (list(range(1, 11)), [3, 8], 10)


def test_quarantined_events_already_stored_by_another_writer_are_not_quarantined_twice(sessions, detector):
    device_id, school_id = new_device(sessions)
    batch = typed_batch(device_id, school_id, range(1, 4))
    batch.events[1].event_id = "not-a-uuid"
    first, second = _prepare(sessions, detector, [batch]), _prepare(sessions, detector, [batch])
    [stored], [again] = _write(sessions, first), _write(sessions, second)
    assert [r.seq for r in stored.rejected] == [2] and again.rejected == []
    with sessions() as session:
        assert session.scalar(text("SELECT count(*) FROM quarantined_events WHERE device_id = :d"), {"d": device_id}) == 1


def test_alerts_count_the_prior_alerts_committed_after_their_snapshot(sessions, detector):
    device_id, school_id = new_device(sessions)
    other_id = new_device_in(sessions, school_id)
    # Both sets are prepared before either is written: the second must still see the first's alerts.
    first = _prepare(sessions, detector, [typed_batch(device_id, school_id, range(1, 4), alarming={1, 2, 3})])
    second = _prepare(sessions, detector, [typed_batch(other_id, school_id, range(1, 3), alarming={1, 2})])
    _write(sessions, first)
    _write(sessions, second)
    with sessions() as session:
        alerts = session.scalars(select(Alert).where(Alert.school_id == school_id).order_by(Alert.id)).all()
        priors = [alert.evidence["prior_alerts"] for alert in alerts if alert.category == "suicide"]
        assert priors == [0, 1, 2, 3, 4]
        for alert in alerts:
            assert alert.evidence["rule_risk"] <= alert.risk
            assert set(alert.evidence) >= {"deleted", "url", "rule_risk", "prior_alerts", "hits"}


def test_an_ingested_alert_is_the_row_alert_row_describes(sessions, detector):
    """Ingest builds alert rows as tuples for the driver; each column must hold what alert_row (the one description
    of an alert, also used for web-filter alerts) gives, after the database's round trip."""
    device_id, school_id = new_device(sessions)
    batch = typed_batch(device_id, school_id, range(1, 3), alarming={2})
    event = batch.events[1]
    event.typed_text.deleted_text = "nobody would miss me"
    event.typed_text.window_title = "Untitled - Notepad"
    _write(sessions, _prepare(sessions, detector, [batch]))
    items = [ScanItem(event.typed_text.text, "text", "secondary", "notepad"),
             ScanItem(event.typed_text.deleted_text, "text", "secondary", "notepad")]
    expected = {}
    for item, result, deleted in zip(items, detector.scan(items), (False, True)):
        for finding in result.findings:
            expected.setdefault(finding.category, alert_row(
                finding=finding, prior_alerts=0, now=utcnow(), school_id=school_id, device_id=device_id,
                user=event.user, event_seq=2, event_time=event.time.ToDatetime(tzinfo=timezone.utc), source="text",
                text=item.text, application="notepad", window_title="Untitled - Notepad",
                evidence={"deleted": deleted, "url": ""},
            ))
    assert expected, "the alarming text raises alerts"
    with sessions() as session:
        stored = session.scalars(select(Alert).where(Alert.device_id == device_id)).all()
        assert sorted(alert.category for alert in stored) == sorted(expected)
        for alert in stored:
            row = expected[alert.category]
            for column, value in row.items():
                if column != "created_at":
                    assert getattr(alert, column) == value, column
            assert alert.triaged_by == alert.triage_reason == "" and alert.assigned_to_id is None


def test_row_values_are_what_sqlalchemy_would_write():
    from datetime import datetime

    from sqlalchemy.dialects import sqlite

    from console.ingest.service import _ALERTS, _bind_processor, _event_values, _event_values_json, _sqlite_time

    events = [
        pb.Event(typed_text=pb.TypedText(text="x", application='Wörd "q" \u2028\x00', window_title="\U0001F600", pasted=True)),
        pb.Event(typed_text=pb.TypedText()),
        pb.Event(window_focus=pb.WindowFocus(title="t", process_name="é", process_path="C:\\x", pid=2**32 - 1)),
        pb.Event(web_visit=pb.WebVisit(url='http://x/"y', browser="chrome", title="T")),
        pb.Event(agent_status=pb.AgentStatus(cpu_percent=1.5, dropped={"text": 2})),
    ]
    visited = pb.Event(web_visit=pb.WebVisit(url="u"))
    visited.web_visit.visit_time.seconds = 5
    for event in [*events, visited]:
        kind = event.WhichOneof("kind")
        text, detail = _event_values(event, kind)
        assert _event_values_json(event, kind) == (text, json.dumps(detail))
    for seconds, nanos in ((0, 0), (1_795_440_768, 999_999_999), (-5, 123_000), (253_402_300_799, 1000)):
        stamp = pb.Event().time
        stamp.seconds, stamp.nanos = seconds, nanos
        expected = datetime(1970, 1, 1) + timedelta(seconds=seconds, microseconds=nanos // 1000)
        assert _sqlite_time(stamp) == expected.isoformat(" ", "microseconds")
        # what an alert's event_time column makes of the same time as an aware datetime
        assert _bind_processor(_ALERTS.c.event_time, sqlite.dialect())(expected.replace(tzinfo=timezone.utc)) == _sqlite_time(stamp)


def test_alert_evidence_members_are_written_as_json_dumps_would():
    from console.ingest.service import _json_members

    for value in ({"deleted": False, "url": 'a"\u00e9\U0001F600', "hits": [{"start": 0, "end": 3}], "model_score": 0.345,
                   "none": None, "nan": float("nan"), "features": ["x"]}, {}):
        assert "{" + _json_members(value) + "}" == json.dumps(value)
