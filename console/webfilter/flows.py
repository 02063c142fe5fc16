"""Web-filter records: map each to its device (or its school's network), scan the batch, store flagged
requests as alerts once, and receive records over syslog."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from console.alerts.models import Alert
from console.alerts.service import alert_row, prior_alert_counts
from console.detect import Detector, ScanItem, ScanResult
from console.webfilter.models import WebRequest
from console.webfilter.service import DeviceAtAddress, SchoolAtAddress, devices_at, schools_at
from console.webfilter.squid import AccessRecord, SquidParseError, parse_syslog_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScannedRecord:
    record: AccessRecord
    device: DeviceAtAddress | None  # None: no enrolled device known at that address then
    school: SchoolAtAddress | None  # the device's school, else the school whose network holds the address
    result: ScanResult


def scan_records(*, session: Session, detector: Detector, records: Sequence[AccessRecord]) -> list[ScannedRecord]:
    """Each record with the device that had its client address at that time (or, for addresses no agent
    reported, the school whose networks hold it) and what detection found (at that school's phase)."""
    devices = devices_at(session=session, lookups=[(r.client_ip, r.time) for r in records])
    by_network = schools_at(session=session, ips=[r.client_ip for r, d in zip(records, devices) if d is None])
    schools: list[SchoolAtAddress | None] = []
    for device in devices:
        schools.append(SchoolAtAddress(device.school_id, device.phase) if device else by_network.pop(0))
    items = [
        ScanItem(text=r.search_terms, source="weblog", phase=s.phase if s else "secondary", url=r.url)
        for r, s in zip(records, schools)
    ]
    results = detector.scan(items)
    return [ScannedRecord(r, d, s, result) for r, d, s, result in zip(records, devices, schools, results)]


@dataclass
class StoreOutcome:
    alerts: int = 0  # alerts written
    requests: int = 0  # flagged requests stored (each raises one alert per category)
    already_stored: int = 0  # flagged requests stored by an earlier import of the same log
    no_school: int = 0  # flagged requests from an address of no known device or school network: not stored


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", errors="surrogatepass")).hexdigest()


def _span(url: str, phrase: str) -> tuple[int, int]:
    """Where the matched phrase (a domain, or words searched for) is in the url, best effort; (0, 0) if not."""
    lowered = url.lower()
    for form in (phrase.lower(), phrase.lower().replace(" ", "+"), phrase.lower().replace(" ", "%20")):
        start = lowered.find(form)
        if start >= 0:
            return start, start + len(form)
    return 0, 0


def store_alerts(*, session: Session, scanned: Sequence[ScannedRecord], now: datetime) -> StoreOutcome:
    """Store each flagged request once, keyed by (school, time, client, url), and raise its alerts (source
    "weblog", event_seq = -request id, device "" when no agent was seen at the address). The caller commits."""
    outcome = StoreOutcome()
    keyed: dict[tuple[int, datetime, str, str], ScannedRecord] = {}
    for item in scanned:
        if not item.result.findings:
            continue
        if item.school is None:
            outcome.no_school += 1
            continue
        keyed.setdefault((item.school.school_id, item.record.time, item.record.client_ip, url_hash(item.record.url)), item)
    if not keyed:
        return outcome
    times = [time for _, time, _, _ in keyed]
    existing = {
        (row.school_id, row.time, row.client_ip, row.url_hash)
        for row in session.execute(
            select(WebRequest.school_id, WebRequest.time, WebRequest.client_ip, WebRequest.url_hash).where(
                WebRequest.school_id.in_({school for school, _, _, _ in keyed}),
                WebRequest.time.between(min(times), max(times)),
                WebRequest.url_hash.in_({digest for _, _, _, digest in keyed}),
            )
        )
    }
    fresh = [(key, item) for key, item in keyed.items() if key not in existing]
    # Repeats inside this batch count too: the same request logged twice is stored once.
    outcome.already_stored = sum(1 for item in scanned if item.result.findings and item.school) - len(fresh)
    if not fresh:
        return outcome
    requests = [
        WebRequest(
            school_id=school_id,
            time=time,
            client_ip=client_ip,
            url_hash=digest,
            url=item.record.url,
            user=item.record.user[:100],
            device_id=item.device.device_id if item.device else None,
            status=item.record.status[:40],
            method=item.record.method[:20],
            imported_at=now,
        )
        for (school_id, time, client_ip, digest), item in fresh
    ]
    session.add_all(requests)
    session.flush()
    outcome.requests = len(requests)
    # Repetition counts by pupil: requests without an authenticated user are not one pupil, so never repeat.
    prior = prior_alert_counts(session=session, subjects={(r.school_id, r.user) for r in requests if r.user}, now=now)
    rows = []
    for request, (_, item) in zip(requests, fresh):
        record = item.record
        for finding in item.result.findings:
            repeat_key = (request.school_id, request.user, finding.category)
            first = finding.hits[0] if finding.hits else None
            rows.append(
                alert_row(
                    finding=finding,
                    prior_alerts=prior[repeat_key] if request.user else 0,
                    now=now,
                    school_id=request.school_id,
                    device_id=request.device_id or "",
                    user=request.user,
                    event_seq=-request.id,
                    event_time=record.time,
                    source="weblog",
                    text=record.url,
                    span=_span(record.url, first.phrase) if first else (0, 0),
                    evidence={
                        "url": record.url,
                        "search_terms": record.search_terms,
                        "client_ip": record.client_ip,
                        "status": record.status,
                        "method": record.method,
                        "device_id": request.device_id,
                        "school_from": "device" if request.device_id else "network",
                        "web_request_id": request.id,
                    },
                )
            )
            if request.user:
                prior[repeat_key] += 1
    session.execute(insert(Alert.__table__), rows)
    outcome.alerts = len(rows)
    return outcome


class _SyslogProtocol(asyncio.DatagramProtocol):
    def __init__(self, pending: list[AccessRecord]) -> None:
        self.pending = pending
        self.malformed = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                self.pending.append(parse_syslog_line(line))
            except SquidParseError as exc:
                self.malformed += 1
                log.warning("syslog line from %s skipped: %s: %r", addr[0], exc, line[:200])


async def listen_syslog(
    *,
    host: str,
    port: int,
    handle: Callable[[list[AccessRecord]], None],
    flush_seconds: float = 1.0,
    started: asyncio.Event | None = None,
) -> None:
    """Receive Squid records as syslog over UDP and hand them to handle in batches, every flush_seconds."""
    pending: list[AccessRecord] = []
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _SyslogProtocol(pending), local_addr=(host, port))
    if started is not None:
        started.set()
    try:
        while True:
            await asyncio.sleep(flush_seconds)
            if pending:
                batch = pending[:]
                pending.clear()
                handle(batch)
    finally:
        transport.close()
