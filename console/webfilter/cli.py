"""`safeguard webfilter import FILE` and `safeguard webfilter listen --syslog-port N`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from console.detection import build_detector
from console.schools.service import get_by_name
from console.settings import Settings
from console.store import make_engine, make_sessionmaker, transaction, utcnow
from console.webfilter.flows import ScannedRecord, StoreOutcome, listen_syslog, scan_records, store_alerts
from console.webfilter.service import set_networks
from console.webfilter.squid import AccessRecord, SquidParseError, parse_line

webfilter_app = typer.Typer(help="Scan web-filter (Squid) access logs into alerts.", no_args_is_help=True)

BATCH = 5000


def _record(scanned: ScannedRecord) -> dict:
    result = scanned.result
    return {
        "time": scanned.record.time.isoformat(),
        "client_ip": scanned.record.client_ip,
        "device_id": scanned.device.device_id if scanned.device else None,
        "school_id": scanned.school.school_id if scanned.school else None,
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
        self.stored = StoreOutcome()

    def __call__(self, records: list[AccessRecord]) -> None:
        with transaction(self.sessions) as session:
            scanned = scan_records(session=session, detector=self.detector, records=records)
            outcome = store_alerts(session=session, scanned=scanned, now=utcnow())
        self.stored.alerts += outcome.alerts
        self.stored.requests += outcome.requests
        self.stored.already_stored += outcome.already_stored
        self.stored.no_school += outcome.no_school
        for item in scanned:
            if item.result.findings:
                self.flagged += 1
                typer.echo(json.dumps(_record(item)))


@webfilter_app.command("import")
def import_log(
    file: Annotated[Path, typer.Argument(help="Squid access.log in the native format.", exists=True, dir_okay=False)],
) -> None:
    """Scan a Squid access log and store each flagged request as alerts (source "weblog") of the school of the
    device that had the client address at the time, or of the school whose networks hold it; print one JSON
    line per flagged request. Importing the same log again stores nothing twice. Malformed lines are reported
    on stderr and skipped."""
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
    stored = scanner.stored
    typer.echo(
        f"{total} requests scanned, {scanner.flagged} flagged, {malformed} malformed lines skipped; "
        f"{stored.requests} flagged requests stored as {stored.alerts} alerts, {stored.already_stored} already stored, "
        f"{stored.no_school} from addresses of no known device or school network",
        err=True,
    )


@webfilter_app.command()
def listen(
    syslog_port: Annotated[int, typer.Option(help="UDP port Squid sends its access log to (syslog).")] = 5514,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
) -> None:
    """Receive Squid's access log over syslog (UDP), store flagged requests as alerts and print them as JSON lines."""
    asyncio.run(listen_syslog(host=host, port=syslog_port, handle=_Scanner()))


@webfilter_app.command()
def networks(
    school: Annotated[str, typer.Argument(help="The school's name.")],
    cidrs: Annotated[list[str], typer.Argument(help="Its address ranges, e.g. 10.12.0.0/16 (none: clear them).")] = [],  # noqa: B006
) -> None:
    """Set a school's network ranges: proxy traffic from them is the school's even without an agent's device."""
    settings = Settings()
    sessions = make_sessionmaker(make_engine(settings.resolved_database_url))
    with transaction(sessions) as session:
        found = get_by_name(session=session, name=school)
        if found is None:
            typer.echo(f"no school named {school!r}", err=True)
            raise typer.Exit(1)
        try:
            saved = set_networks(session=session, school=found, networks=cidrs)
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{school}: {', '.join(saved) or 'no networks'}")
