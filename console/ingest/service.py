"""Store a gathered set of device batches and detect on them, in one transaction.

This is the hot path: one call handles many batches from many devices, scans all their
text in one detector call and writes with bulk inserts. Resends are skipped by the
device's stored-through seq, which is updated in the same transaction, so a batch
delivered twice (agent resend, bus redelivery) stores its events and raises its alerts once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from safeguard_proto.v1 import agent_pb2 as pb
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from console.alerts.models import Alert
from console.alerts.service import alert_row, prior_alert_counts
from console.detect import Detector, ScanItem
from console.devices.models import Device
from console.events.models import Event, QuarantinedEvent, Screenshot
from console.ingest.validate import Limits, event_problem


@dataclass(frozen=True)
class DeviceBatch:
    device_id: str
    school_id: int
    phase: str
    events: Sequence[pb.Event]


@dataclass
class BatchOutcome:
    acked_through_seq: int
    rejected: list[pb.RejectedEvent] = field(default_factory=list)
    stored: int = 0
    alerts: int = 0


class _Scannable(NamedTuple):  # one per scanned text of the set: a tuple is cheap to build
    batch: DeviceBatch
    event: pb.Event
    item: ScanItem
    deleted: bool


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _utc(timestamp) -> datetime:
    # protobuf's ToDatetime is pure Python and showed up in profiles of this hot path.
    return _EPOCH + timedelta(seconds=timestamp.seconds, microseconds=timestamp.nanos // 1000)


_EVENT_COLUMNS = ("device_id", "seq", "event_id", "kind", "time", "user", "text", "detail")
_EPOCH_NAIVE = datetime(1970, 1, 1)


def _sqlite_time(timestamp) -> str:
    """A UTC timestamp as SQLAlchemy writes an aware datetime into SQLite (naive UTC, microseconds always)."""
    moment = _EPOCH_NAIVE + timedelta(seconds=timestamp.seconds, microseconds=timestamp.nanos // 1000)
    return moment.isoformat(" ", "microseconds")


def _event_values(event: pb.Event, kind: str) -> tuple[str, dict[str, Any]]:
    """The event's scanned text and its detail (kind-specific fields) for the events table."""
    body = getattr(event, kind)
    text = ""
    detail: dict[str, Any]
    if kind == "typed_text":
        text = body.text
        detail = {
            "application": body.application,
            "window_title": body.window_title,
            "deleted_text": body.deleted_text,
            "pasted": body.pasted,
        }
    elif kind == "window_focus":
        text = body.title
        detail = {"process_name": body.process_name, "process_path": body.process_path, "pid": body.pid}
    elif kind == "web_visit":
        text = body.title
        detail = {"url": body.url, "browser": body.browser}
        if body.HasField("visit_time"):
            detail["visit_time"] = _utc(body.visit_time).isoformat()
    elif kind == "screenshot":
        detail = {
            "format": body.format,
            "width": body.width,
            "height": body.height,
            "reason": body.reason,
            "trigger_seq": body.trigger_seq,
        }
    else:
        detail = {
            "cpu_percent": body.cpu_percent,
            "rss_bytes": body.rss_bytes,
            "spool_depth": body.spool_depth,
            "spool_bytes": body.spool_bytes,
            "dropped": dict(body.dropped),
            "agent_version": body.agent_version,
            "policy_version": body.policy_version,
        }
    return text, detail


def _insert_events(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert of event rows (tuples in _EVENT_COLUMNS order, time as a protobuf Timestamp, detail a dict).

    On SQLite the values are converted here exactly as SQLAlchemy's types would (a datetime string, JSON text)
    and handed to the driver's executemany: SQLAlchemy's per-row parameter processing cost more than the
    insert itself. Other databases take the ordinary Core path."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "sqlite":
        quote = dialect.identifier_preparer.quote
        sql = (
            f"INSERT INTO events ({', '.join(quote(c) for c in _EVENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _EVENT_COLUMNS)})"
        )
        dumps = json.dumps
        connection.exec_driver_sql(
            sql,
            [(d, seq, eid, kind, _sqlite_time(t), user, text, dumps(detail)) for d, seq, eid, kind, t, user, text, detail in rows],
        )
        return
    session.execute(
        insert(Event.__table__),
        [
            {"device_id": d, "seq": seq, "event_id": eid, "kind": kind, "time": _utc(t), "user": user, "text": text, "detail": detail}
            for d, seq, eid, kind, t, user, text, detail in rows
        ],
    )


_INSERTS: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[tuple[str, Any, Any]]] | None] = {}


def _sqlite_insert_plan(table, dialect, keys: tuple[str, ...]) -> tuple[str, list[tuple[str, Any, Any]]] | None:
    """INSERT text and, per column, (row key, scalar default, bind processor) for rows with these keys; None
    when a missing column has a default only SQLAlchemy can compute (then the Core path is taken)."""
    plan = []
    for column in table.columns:
        if column.key in keys:
            default = None
        elif column.default is None:
            continue  # NULL, or the rowid for an integer primary key: the database fills it
        elif column.default.is_scalar:
            default = column.default.arg
        else:
            return None
        plan.append((column.key, default, column.type.dialect_impl(dialect).bind_processor(dialect)))
    quote = dialect.identifier_preparer.quote
    names = [quote(table.columns[key].name) for key, _, _ in plan]
    return f"INSERT INTO {quote(table.name)} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})", plan


def _insert_rows(session: Session, table, rows: list[dict[str, Any]]) -> None:
    """``session.execute(insert(table), rows)``; on SQLite the values go through the same type processors
    SQLAlchemy would apply, but straight to the driver's executemany (no per-row statement machinery)."""
    connection = session.connection()
    dialect = connection.dialect
    plan = None
    if dialect.name == "sqlite":
        keys = tuple(rows[0])
        cache_key = (table.name, dialect.name, keys)
        if cache_key not in _INSERTS:
            _INSERTS[cache_key] = _sqlite_insert_plan(table, dialect, keys)
        plan = _INSERTS[cache_key]
    if plan is None or any(tuple(row) != keys for row in rows):
        session.execute(insert(table), rows)
        return
    sql, columns = plan
    values = []
    for row in rows:
        out = []
        for key, default, process in columns:
            value = row[key] if default is None else row.get(key, default)
            out.append(value if process is None else process(value))
        values.append(tuple(out))
    connection.exec_driver_sql(sql, values)


def _scannables(batch: DeviceBatch, event: pb.Event, kind: str, out: list[_Scannable]) -> None:
    """Append the event's texts to scan (typed text and deleted text, a window title, a page title)."""
    phase = batch.phase
    if kind == "typed_text":
        body = event.typed_text
        if body.text:
            out.append(_Scannable(batch, event, ScanItem(body.text, "text", phase, body.application), False))
        if body.deleted_text:
            out.append(_Scannable(batch, event, ScanItem(body.deleted_text, "text", phase, body.application), True))
    elif kind == "window_focus":
        body = event.window_focus
        if body.title:
            out.append(_Scannable(batch, event, ScanItem(body.title, "window", phase, body.process_name), False))
    elif kind == "web_visit":
        body = event.web_visit
        out.append(_Scannable(batch, event, ScanItem(body.title, "url", phase, body.browser, body.url), False))


def _status_values(status: pb.AgentStatus) -> dict[str, Any]:
    values: dict[str, Any] = {
        "cpu_percent": status.cpu_percent,
        "rss_bytes": status.rss_bytes,
        "spool_depth": status.spool_depth,
        "dropped_events": sum(status.dropped.values()),
        "policy_version": status.policy_version,
    }
    if status.agent_version:
        values["agent_version"] = status.agent_version[:50]
    return values


_DEVICES = Device.__table__


def store_batches(
    *,
    session: Session,
    detector: Detector,
    batches: Sequence[DeviceBatch],
    limits: Limits,
    now: datetime,
) -> list[BatchOutcome]:
    """Store and detect; returns one outcome per batch, in order. The caller commits."""
    device_ids = sorted({batch.device_id for batch in batches})
    # Each device's stored-through seq, its row locked: resends at or below it are skipped, in this transaction.
    query = select(_DEVICES.c.id, _DEVICES.c.stored_through_seq).where(_DEVICES.c.id.in_(device_ids))
    stored_through: dict[str, int] = {d: seq for d, seq in session.execute(query.with_for_update())}
    statuses: dict[str, dict[str, Any]] = {}
    event_rows: list[tuple[Any, ...]] = []
    screenshot_rows: list[dict[str, Any]] = []
    quarantine_rows: list[dict[str, Any]] = []
    scannables: list[_Scannable] = []
    outcomes: list[BatchOutcome] = []

    for batch in batches:
        device_id = batch.device_id
        through = stored_through[device_id]
        outcome = BatchOutcome(acked_through_seq=through)
        for event in batch.events:
            seq = event.seq
            if seq <= through:
                continue
            problem = event_problem(event, limits, now)
            if problem is not None:
                quarantine_rows.append(
                    {
                        "device_id": device_id,
                        "seq": seq,
                        "received_at": now,
                        "reason": problem[:500],
                        "raw": event.SerializeToString(),
                    }
                )
                outcome.rejected.append(pb.RejectedEvent(seq=seq, reason=problem))
            else:
                kind = event.WhichOneof("kind")
                text, detail = _event_values(event, kind)
                event_rows.append((device_id, seq, event.event_id, kind, event.time, event.user[:100], text, detail))
                outcome.stored += 1
                if kind == "screenshot":
                    shot = event.screenshot
                    screenshot_rows.append(
                        {
                            "device_id": device_id,
                            "seq": seq,
                            "trigger_seq": shot.trigger_seq,
                            "time": _utc(event.time),
                            "format": shot.format,
                            "width": shot.width,
                            "height": shot.height,
                            "reason": shot.reason[:200],
                            "image": shot.image,
                        }
                    )
                elif kind == "agent_status":
                    statuses[device_id] = _status_values(event.agent_status)
                else:
                    _scannables(batch, event, kind, scannables)
            through = seq
        stored_through[device_id] = through
        outcome.acked_through_seq = through
        outcomes.append(outcome)

    session.execute(
        update(_DEVICES)
        .where(_DEVICES.c.id == bindparam("device"))
        .values(stored_through_seq=bindparam("through"), last_seen_at=bindparam("seen")),
        [{"device": d, "through": stored_through[d], "seen": now} for d in device_ids],
    )
    for device_id, values in statuses.items():
        session.execute(update(_DEVICES).where(_DEVICES.c.id == device_id).values(**values))
    if event_rows:
        _insert_events(session, event_rows)
    if screenshot_rows:
        session.execute(insert(Screenshot.__table__), screenshot_rows)
    if quarantine_rows:
        session.execute(insert(QuarantinedEvent.__table__), quarantine_rows)
    alert_rows = _alerts(session=session, detector=detector, scannables=scannables, now=now)
    if alert_rows:
        _insert_rows(session, Alert.__table__, alert_rows)
        by_device: dict[str, int] = defaultdict(int)
        for row in alert_rows:
            by_device[row["device_id"]] += 1
        for batch, outcome in zip(batches, outcomes):
            outcome.alerts = by_device.pop(batch.device_id, 0)
    return outcomes


def _alerts(
    *, session: Session, detector: Detector, scannables: list[_Scannable], now: datetime
) -> list[dict[str, Any]]:
    if not scannables:
        return []
    results = detector.scan([scannable.item for scannable in scannables])
    flagged = [(s, r) for s, r in zip(scannables, results) if r.findings]
    if not flagged:
        return []
    prior = prior_alert_counts(
        session=session, subjects={(s.batch.school_id, s.event.user) for s, _ in flagged}, now=now
    )
    rows: list[dict[str, Any]] = []
    raised: set[tuple[str, int, str]] = set()
    for scannable, result in flagged:
        event, batch = scannable.event, scannable.batch
        for finding in result.findings:
            key = (batch.device_id, event.seq, finding.category)
            if key in raised:  # typed and deleted text of one event hit the same category
                continue
            raised.add(key)
            repeat_key = (batch.school_id, event.user[:100], finding.category)
            body = event.typed_text if scannable.item.source == "text" else None
            rows.append(
                alert_row(
                    finding=finding,
                    prior_alerts=prior[repeat_key],
                    now=now,
                    school_id=batch.school_id,
                    device_id=batch.device_id,
                    user=event.user,
                    event_seq=event.seq,
                    event_time=_utc(event.time),
                    source=scannable.item.source,
                    text=scannable.item.text,
                    application=scannable.item.application,
                    window_title=body.window_title if body else "",
                    evidence={"deleted": scannable.deleted, "url": scannable.item.url},
                )
            )
            prior[repeat_key] += 1
    return rows

