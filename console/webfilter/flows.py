"""Scanning web-filter records: map each to its device, scan the batch, and receive records over syslog."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from console.detect import Detector, ScanItem, ScanResult
from console.webfilter.service import DeviceAtAddress, devices_at
from console.webfilter.squid import AccessRecord, SquidParseError, parse_syslog_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScannedRecord:
    record: AccessRecord
    device: DeviceAtAddress | None  # None: no enrolled device known at that address then
    result: ScanResult


def scan_records(*, session: Session, detector: Detector, records: Sequence[AccessRecord]) -> list[ScannedRecord]:
    """Each record with the device that had its client address at that time and what detection found."""
    devices = devices_at(session=session, lookups=[(r.client_ip, r.time) for r in records])
    items = [
        ScanItem(text=r.search_terms, source="weblog", phase=d.phase if d else "secondary", url=r.url)
        for r, d in zip(records, devices)
    ]
    results = detector.scan(items)
    return [ScannedRecord(r, d, result) for r, d, result in zip(records, devices, results)]


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
