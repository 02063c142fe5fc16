"""`safeguard webfilter import FILE` and `safeguard webfilter listen --syslog-port N`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from console.detection import build_detector
from console.settings import Settings
from console.store import make_engine, make_sessionmaker, transaction
from console.webfilter.flows import ScannedRecord, listen_syslog, scan_records
from console.webfilter.squid import AccessRecord, SquidParseError, parse_line

webfilter_app = typer.Typer(help="Scan web-filter (Squid) access logs.", no_args_is_help=True)

BATCH = 5000


def _record(scanned: ScannedRecord) -> dict:
    result = scanned.result
    return {
        "time": scanned.record.time.isoformat(),
        "client_ip": scanned.record.client_ip,
        "device_id": scanned.device.device_id if scanned.device else None,
        "school_id": scanned.device.school_id if scanned.device else None,
        "user": scanned.record.user,
        "url": scanned.record.url,
        "risk": max(f.risk for f in result.findings),
        "categories": result.scores,
        "hits": [{"rule": h.rule_id, "phrase": h.phrase} for f in result.findings for h in f.hits],
    }


class _Scanner:
    def __init__(self) -> None:
        settings = Settings()
        self.detector = build_detector(settings)
        self.sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
        self.flagged = 0

    def __call__(self, records: list[AccessRecord]) -> None:
        with transaction(self.sessions) as session:
            scanned = scan_records(session=session, detector=self.detector, records=records)
        for item in scanned:
            if item.result.findings:
                self.flagged += 1
                typer.echo(json.dumps(_record(item)))


@webfilter_app.command("import")
def import_log(
    file: Annotated[Path, typer.Argument(help="Squid access.log in the native format.", exists=True, dir_okay=False)],
) -> None:
    """Scan a Squid access log; print one JSON line per flagged request, with the device that had the client
    address at the time. Malformed lines are reported on stderr and skipped."""
    scanner = _Scanner()
    records: list[AccessRecord] = []
    total = malformed = 0
    with file.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(parse_line(line))
            except SquidParseError as exc:
                malformed += 1
                typer.echo(f"{file}:{number}: skipped: {exc}", err=True)
                continue
            total += 1
            if len(records) >= BATCH:
                scanner(records)
                records = []
    if records:
        scanner(records)
    typer.echo(f"{total} requests scanned, {scanner.flagged} flagged, {malformed} malformed lines skipped", err=True)


@webfilter_app.command()
def listen(
    syslog_port: Annotated[int, typer.Option(help="UDP port Squid sends its access log to (syslog).")] = 5514,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
) -> None:
    """Receive Squid's access log over syslog (UDP) and print flagged requests as JSON lines."""
    asyncio.run(listen_syslog(host=host, port=syslog_port, handle=_Scanner()))
