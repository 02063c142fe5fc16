"""Store a gathered set of device batches and detect on them: the ingest hot path.

It runs in two steps so that the database's write lock is held only for the writing:

1. `prepare_batches` does the CPU work with no lock held: validation, the detector over all the
   set's text at once, the event and alert rows with their values converted for the database.
   It reads each device's stored-through seq (to skip resends early) and, for the repetition
   risk of alerts, the subjects' prior alerts, in one read snapshot.
2. `write_prepared`, in the write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
   devices' rows locked), re-reads every stored-through seq and drops what another writer stored
   in between (events, rejections, alerts, agent status), counts the alerts committed since the
   snapshot, finishes the alerts' risk and evidence, inserts, and moves the stored-through seqs.

A batch delivered twice (agent resend, bus redelivery, two consoles) so stores its events and
raises its alerts once: the stored-through seq that decides it is read and moved in the same
write transaction.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import chain
from json.encoder import c_make_encoder
from json.encoder import encode_basestring_ascii as _string  # what json.dumps writes a str as
from typing import Any, NamedTuple

from safeguard_proto.v1 import agent_pb2 as pb
from sqlalchemy import ARRAY, BigInteger, String, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from console.alerts.models import Alert, AlertStatus
from console.alerts.service import finding_evidence, prior_alert_counts
from console.detect import Detector, ScanItem
from console.detect.scoring import adjust_for_repetition
from console.devices.models import Device
from console.events.models import Event, QuarantinedEvent, Screenshot
from console.ingest.validate import EventCheck, Limits
from console.store import fetch_rows, transaction, utcnow


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
    index: int  # of the batch in the set
    batch: DeviceBatch
    event: pb.Event
    item: ScanItem
    deleted: bool
    time: Any  # the event's time as its row has it (the alert's event_time)


class _PlannedAlert(NamedTuple):
    seq: int
    subject: tuple[int, str, str]  # (school_id, user as stored, category): what repetition counts
    rule_risk: int
    values: tuple[Any, ...]  # _ALERT_COLUMNS but the last three (known when written), as the driver takes them
    evidence: tuple[str, str]  # the evidence's JSON members before and after its number of prior alerts


@dataclass
class _BatchRows:
    """What one batch adds, every item with its seq so that a late duplicate can be dropped."""

    acked_through_seq: int
    events: list[tuple[Any, ...]] = field(default_factory=list)  # _EVENT_COLUMNS order, values converted
    screenshots: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[pb.RejectedEvent] = field(default_factory=list)
    alerts: list[_PlannedAlert] = field(default_factory=list)
    status: tuple[int, dict[str, Any]] | None = None  # the batch's last agent status: (seq, device columns)


@dataclass
class PreparedSet:
    """A gathered set of batches, validated, detected and turned into rows: what `write_prepared` writes."""

    batches: Sequence[DeviceBatch]
    now: datetime
    sqlite: bool
    seen_through: dict[str, int]  # each device's stored-through seq when prepared
    rows: list[_BatchRows]
    prior: defaultdict[tuple[int, str, str], int]  # alerts per subject when prepared (SQLite) or empty
    alerts_seen_through_id: int  # the largest alert id of the snapshot `prior` was counted in (0: none counted)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _utc(timestamp) -> datetime:
    # protobuf's ToDatetime is pure Python and showed up in profiles of this hot path.
    return _EPOCH + timedelta(seconds=timestamp.seconds, microseconds=timestamp.nanos // 1000)


_EVENT_COLUMNS = ("device_id", "seq", "event_id", "kind", "time", "user", "text", "detail")
_EPOCH_NAIVE = datetime(1970, 1, 1)


_SECONDS: dict[int, str] = {}  # "YYYY-MM-DD HH:MM:SS" of recent whole seconds: a set's events share a few


def _sqlite_time(timestamp) -> str:
    """A UTC timestamp as SQLAlchemy writes an aware datetime into SQLite (naive UTC, microseconds always)."""
    seconds = timestamp.seconds
    prefix = _SECONDS.get(seconds)
    if prefix is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        prefix = _SECONDS[seconds] = (_EPOCH_NAIVE + timedelta(seconds=seconds)).isoformat(" ")
    return f"{prefix}.{timestamp.nanos // 1000:06d}"


def _event_values_json(event: pb.Event, kind: str) -> tuple[str, str]:
    """_event_values with the detail as JSON text (json.dumps's), written out directly for the common kinds:
    json.dumps sets up an encoder per call, which cost more than the rest of the row."""
    if kind == "typed_text":
        body = event.typed_text
        return body.text, (
            f'{{"application": {_string(body.application)}, "window_title": {_string(body.window_title)}, '
            f'"deleted_text": {_string(body.deleted_text)}, "pasted": {"true" if body.pasted else "false"}}}'
        )
    if kind == "window_focus":
        body = event.window_focus
        return body.title, (
            f'{{"process_name": {_string(body.process_name)}, "process_path": {_string(body.process_path)}, '
            f'"pid": {body.pid}}}'
        )
    if kind == "web_visit" and not event.web_visit.HasField("visit_time"):
        body = event.web_visit
        return body.title, f'{{"url": {_string(body.url)}, "browser": {_string(body.browser)}}}'
    text, detail = _event_values(event, kind)
    return text, json.dumps(detail)


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


def _bind_processor(column, dialect):
    """What SQLAlchemy's type does to a value of this column before the driver gets it (None: nothing)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _insert_rows(session: Session, table, keys: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Rows of values already converted for the driver (JSON as text), with the driver directly: SQLAlchemy's
    and the drivers' per-row parameter handling cost more than the inserts themselves.

    SQLite: as many rows per INSERT as it takes parameters, so that it inserts them in one call that releases
    the GIL once (executemany takes the GIL back after every row, and each time waited for it while the next
    set was being prepared in another thread). PostgreSQL: one ``COPY``."""
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(table.columns[key].name) for key in keys)
    driver = session.connection().connection.driver_connection
    cursor = driver.cursor()
    if dialect.name != "sqlite":
        with cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    per_statement = max(1, min(driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER), 32_766) // len(keys))
    one = f"({', '.join('?' * len(keys))})"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        cursor.execute(
            f"INSERT INTO {quote(table.name)} ({columns}) VALUES {', '.join([one] * len(chunk))}",
            list(chain.from_iterable(chunk)),
        )


# json.dumps's own encoder (same separators, ASCII, NaN allowed), made once: json.dumps makes one per call, which
# cost more than encoding an alert's evidence. No circular check: the values here are plain trees.
_ENCODE = c_make_encoder(None, json.JSONEncoder().default, _string, None, ": ", ", ", False, False, True)


def _json_members(value: dict[str, Any]) -> str:
    """The members of a JSON object as json.dumps writes them, without the braces."""
    return "".join(_ENCODE(value, 0))[1:-1]


def _scannables(
    index: int, batch: DeviceBatch, event: pb.Event, kind: str, time: Any, out: list[_Scannable]
) -> None:
    """Append the event's texts to scan (typed text and deleted text, a window title, a page title)."""
    phase = batch.phase
    if kind == "typed_text":
        body = event.typed_text
        if body.text:
            item = ScanItem(body.text, "text", phase, body.application)
            out.append(_Scannable(index, batch, event, item, False, time))
        if body.deleted_text:
            item = ScanItem(body.deleted_text, "text", phase, body.application)
            out.append(_Scannable(index, batch, event, item, True, time))
    elif kind == "window_focus":
        body = event.window_focus
        if body.title:
            item = ScanItem(body.title, "window", phase, body.process_name)
            out.append(_Scannable(index, batch, event, item, False, time))
    elif kind == "web_visit":
        body = event.web_visit
        item = ScanItem(body.title, "url", phase, body.browser, body.url)
        out.append(_Scannable(index, batch, event, item, False, time))


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
_ALERTS = Alert.__table__


def _move_stored_through(device_id: Any, seq: Any) -> Any:
    return update(_DEVICES).where(_DEVICES.c.id == device_id).values(stored_through_seq=seq, last_seen_at=bindparam("now"))


# Every device's new stored-through seq in one statement whose SQL is the same for any number of devices (compiled
# once), joined to the devices by key. An executemany took the GIL back after each row, waiting for it while the
# next set was prepared; a CASE of every device, matched for each row, grew with the square of the devices.
_SQLITE_MOVED = func.json_each(bindparam("through")).table_valued("key", "value").alias("moved")
_POSTGRES_MOVED = (
    func.unnest(bindparam("ids", type_=ARRAY(String)), bindparam("seqs", type_=ARRAY(BigInteger)))
    .table_valued("id", "seq")
    .render_derived("moved")
)
_SQLITE_MOVE_STORED_THROUGH = _move_stored_through(_SQLITE_MOVED.c.key, _SQLITE_MOVED.c.value)
_POSTGRES_MOVE_STORED_THROUGH = _move_stored_through(_POSTGRES_MOVED.c.id, _POSTGRES_MOVED.c.seq)
# The alerts' columns as ingest writes them; the last three are known only in the write transaction (the risk and
# the evidence depend on the subject's prior alerts, counted then).
_ALERT_COLUMNS = (
    "school_id", "device_id", "user", "event_seq", "event_time", "source", "category", "rule_id", "phrase", "text",
    "match_start", "match_end", "application", "window_title", "status", "triaged_by", "triage_reason",
    "risk", "created_at", "evidence",
)


def _stored_through(session: Session, device_ids: Sequence[str], *, lock: bool) -> dict[str, int]:
    query = select(_DEVICES.c.id, _DEVICES.c.stored_through_seq).where(_DEVICES.c.id.in_(device_ids))
    return dict(fetch_rows(session, query.with_for_update() if lock else query))


def _begin(session: Session, mode: str) -> None:
    """On SQLite, start the transaction now (``BEGIN`` or ``BEGIN IMMEDIATE``): the driver would begin one
    only at the first write, leaving the reads before it outside any snapshot or lock."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if not driver.in_transaction:
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


def settle_collector() -> None:
    """Set the cyclic garbage collector up for ingesting, once the process has loaded what it keeps.

    Everything loaded by then (the detector's rules, automaton and model, the app) lives as long as the process:
    frozen, no collection walks it again. A set's rows and messages are freed by reference counting as soon as
    the set is stored, but while one is being built they count as new objects: at Python's threshold of 700 a
    young collection ran every 700 of them, and the survivors, promoted, were walked again by the older
    generations' collections: a fifth of the console's CPU in bench/load.py (a), measured with gc.callbacks.
    With 100,000 the collector runs when that many objects really accumulate (about one young collection in a
    whole load run), which still bounds what reference cycles can hold."""
    gc.freeze()
    gc.set_threshold(100_000)


def prepare_batches(
    *,
    session: Session,
    detector: Detector,
    batches: Sequence[DeviceBatch],
    limits: Limits,
    now: datetime,
) -> PreparedSet:
    """Validate, detect and build the rows of a set of batches; no write, no lock (the caller ends the session's
    read transaction, which is all this uses the database for)."""
    dialect = session.get_bind().dialect
    sqlite = dialect.name == "sqlite"
    if sqlite:
        _begin(session, "")  # one snapshot for the stored-through seqs and the prior alerts
    device_ids = sorted({batch.device_id for batch in batches})
    seen_through = _stored_through(session, device_ids, lock=False)
    stored_through = dict(seen_through)
    prepared_rows: list[_BatchRows] = []
    scannables: list[_Scannable] = []
    check = EventCheck(limits, now)

    for index, batch in enumerate(batches):
        device_id = batch.device_id
        through = stored_through[device_id]
        rows = _BatchRows(acked_through_seq=through)
        for event in batch.events:
            seq = event.seq
            if seq <= through:
                continue
            through = seq
            kind = event.WhichOneof("kind")
            problem = check.problem(event, kind)
            if problem is not None:
                rows.quarantined.append(
                    {
                        "device_id": device_id,
                        "seq": seq,
                        "received_at": now,
                        "reason": problem[:500],
                        "raw": event.SerializeToString(),
                    }
                )
                rows.rejected.append(pb.RejectedEvent(seq=seq, reason=problem))
                continue
            text, detail_json = _event_values_json(event, kind)
            time = _sqlite_time(event.time) if sqlite else _utc(event.time)
            rows.events.append((device_id, seq, event.event_id, kind, time, event.user[:100], text, detail_json))
            if kind == "screenshot":
                shot = event.screenshot
                rows.screenshots.append(
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
                rows.status = (seq, _status_values(event.agent_status))
            else:
                _scannables(index, batch, event, kind, time, scannables)
        stored_through[device_id] = through
        rows.acked_through_seq = through
        prepared_rows.append(rows)

    prior: defaultdict[tuple[int, str, str], int] = defaultdict(int)
    seen_id = 0
    flagged = _flagged(detector, scannables)
    if flagged and sqlite:
        # Counted here, out of the write lock; write_prepared adds what was committed after this snapshot.
        seen_id = session.execute(select(func.coalesce(func.max(_ALERTS.c.id), 0))).scalar_one()
        prior = prior_alert_counts(
            session=session, subjects={(s.batch.school_id, s.event.user) for s, _ in flagged}, now=now
        )
    _plan_alerts(flagged, prepared_rows)
    return PreparedSet(
        batches=batches,
        now=now,
        sqlite=sqlite,
        seen_through=seen_through,
        rows=prepared_rows,
        prior=prior,
        alerts_seen_through_id=seen_id,
    )


def prepare_set(
    sessions: sessionmaker[Session], *, detector: Detector, batches: Sequence[DeviceBatch], limits: Limits
) -> PreparedSet:
    """`prepare_batches` in a read transaction of its own: the first step of storing a set, for both buses."""
    with transaction(sessions) as session:
        return prepare_batches(session=session, detector=detector, batches=batches, limits=limits, now=utcnow())


def write_set(
    sessions: sessionmaker[Session], prepared: PreparedSet, *, lock: AbstractContextManager[Any] | None = None
) -> list[BatchOutcome]:
    """`write_prepared` in a write transaction of its own, committed before returning (so an ack given after it
    means "stored"), with `lock` held around it: the second step of storing a set, for both buses."""
    with lock if lock is not None else nullcontext(), transaction(sessions) as session:
        return write_prepared(session=session, prepared=prepared)


def _flagged(detector: Detector, scannables: list[_Scannable]) -> list[tuple[_Scannable, Any]]:
    if not scannables:
        return []
    results = detector.scan([scannable.item for scannable in scannables])
    return [(s, r) for s, r in zip(scannables, results) if r.findings]


def _plan_alerts(flagged: list[tuple[_Scannable, Any]], rows: list[_BatchRows]) -> None:
    """One planned alert per finding (category) and event, in the set's order, appended to its batch's rows, its
    values (as `alert_row` gives them) converted for the driver."""
    raised: set[tuple[str, int, str]] = set()
    finding_members: dict[int, str] = {}  # by id: a finding of an item that repeats in the set is shared
    status = AlertStatus.new.value
    for scannable, result in flagged:
        event, batch, item = scannable.event, scannable.batch, scannable.item
        user = event.user[:100]
        window_title = event.typed_text.window_title[:500] if item.source == "text" else ""
        before = f'"deleted": {"true" if scannable.deleted else "false"}, "url": {_string(item.url)}'
        for finding in result.findings:
            key = (batch.device_id, event.seq, finding.category)
            if key in raised:  # typed and deleted text of one event hit the same category
                continue
            raised.add(key)
            after = finding_members.get(id(finding))
            if after is None:
                after = finding_members[id(finding)] = _json_members(finding_evidence(finding))
            first = finding.hits[0] if finding.hits else None
            values = (
                batch.school_id, batch.device_id, user, event.seq, scannable.time, item.source, finding.category,
                first.rule_id if first else "", first.phrase[:300] if first else "", item.text,
                first.start if first else 0, first.end if first else 0, item.application[:200], window_title,
                status, "", "",
            )
            subject = (batch.school_id, user, finding.category)
            rows[scannable.index].alerts.append(_PlannedAlert(event.seq, subject, finding.risk, values, (before, after)))


def write_prepared(*, session: Session, prepared: PreparedSet) -> list[BatchOutcome]:
    """Write a prepared set in the session's transaction (which must not have begun on SQLite); returns one
    outcome per batch, in order. The caller commits."""
    if prepared.sqlite:
        _begin(session, "IMMEDIATE")  # the write lock, before the stored-through seqs are read
    device_ids = sorted(prepared.seen_through)
    stored_through = _stored_through(session, device_ids, lock=True)
    now = prepared.now
    outcomes: list[BatchOutcome] = []
    kept: list[_BatchRows] = []
    for batch, rows in zip(prepared.batches, prepared.rows):
        through = stored_through[batch.device_id]
        if through > prepared.seen_through[batch.device_id]:
            rows = _after(rows, through)  # another writer stored some of these since they were prepared
        kept.append(rows)
        outcomes.append(
            BatchOutcome(
                acked_through_seq=max(through, rows.acked_through_seq),
                rejected=rows.rejected,
                stored=len(rows.events),
                alerts=len(rows.alerts),
            )
        )
    final_through = dict(stored_through)
    for batch, outcome in zip(prepared.batches, outcomes):
        final_through[batch.device_id] = max(final_through[batch.device_id], outcome.acked_through_seq)

    if prepared.sqlite:
        session.execute(_SQLITE_MOVE_STORED_THROUGH, {"through": json.dumps(final_through), "now": now})
    else:
        session.execute(
            _POSTGRES_MOVE_STORED_THROUGH, {"ids": list(final_through), "seqs": list(final_through.values()), "now": now}
        )
    statuses = {batch.device_id: rows.status[1] for batch, rows in zip(prepared.batches, kept) if rows.status}
    for device_id, values in statuses.items():
        session.execute(update(_DEVICES).where(_DEVICES.c.id == device_id).values(**values))
    events = [row for rows in kept for row in rows.events]
    if events:
        _insert_rows(session, Event.__table__, _EVENT_COLUMNS, events)  # converted by prepare_batches
    screenshots = [row for rows in kept for row in rows.screenshots]
    if screenshots:
        session.execute(insert(Screenshot.__table__), screenshots)
    quarantined = [row for rows in kept for row in rows.quarantined]
    if quarantined:
        session.execute(insert(QuarantinedEvent.__table__), quarantined)
    alerts = [alert for rows in kept for alert in rows.alerts]
    if alerts:
        _insert_alerts(session, prepared, alerts)
    return outcomes


def _after(rows: _BatchRows, through: int) -> _BatchRows:
    """The batch's rows above `through`."""
    return _BatchRows(
        acked_through_seq=rows.acked_through_seq,
        events=[row for row in rows.events if row[1] > through],
        screenshots=[row for row in rows.screenshots if row["seq"] > through],
        quarantined=[row for row in rows.quarantined if row["seq"] > through],
        rejected=[rejected for rejected in rows.rejected if rejected.seq > through],
        alerts=[alert for alert in rows.alerts if alert.seq > through],
        status=rows.status if rows.status is not None and rows.status[0] > through else None,
    )


def _insert_alerts(session: Session, prepared: PreparedSet, alerts: list[_PlannedAlert]) -> None:
    """Each alert's prior alerts of its subject (as counted when prepared, plus those committed since, plus the
    set's own earlier ones), its risk after repetition and its evidence, then the rows; created_at is now, when
    they are written (what an officer's queue and the event-to-alert latency go by), not when the set was
    prepared."""
    now = prepared.now
    subjects = {(school_id, user) for school_id, user, _ in (alert.subject for alert in alerts)}
    prior = defaultdict(int, prepared.prior)
    after_id = prepared.alerts_seen_through_id
    for key, count in prior_alert_counts(session=session, subjects=subjects, now=now, after_id=after_id).items():
        prior[key] += count
    process = _bind_processor(_ALERTS.c.created_at, session.get_bind().dialect)
    written = process(utcnow()) if process is not None else utcnow()
    values = []
    for alert in alerts:
        count = prior[alert.subject]
        prior[alert.subject] = count + 1
        before, after = alert.evidence
        evidence = f'{{{before}, "prior_alerts": {count}, {after}}}'
        values.append((*alert.values, adjust_for_repetition(alert.rule_risk, count), written, evidence))
    _insert_rows(session, _ALERTS, _ALERT_COLUMNS, values)
