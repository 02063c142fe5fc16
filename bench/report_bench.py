"""Monthly report time for a school with 1,000,000 events in the month, on SQLite and PostgreSQL.

    python bench/report_bench.py [--events 1000000] [--devices 500] [--postgres URL]

Bulk-inserts the events (the driver's executemany on SQLite, COPY on PostgreSQL), plus alerts, then times
the monthly report three times and, as the baseline, a bare ``SELECT count(*)`` over the same
events in the same run. The ratio report/baseline is what to compare between machines.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from console.alerts.models import Alert, AlertStatus
from console.devices.models import Device
from console.events.models import Event
from console.reports import service
from console.schools.models import Phase, School
from console.store import make_engine, make_sessionmaker, transaction
from console.store.migrate import upgrade

LONDON = ZoneInfo("Europe/London")
MONTH = "2026-10"
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
SECONDS = 30 * 86400
ALERTS = 20_000
CATEGORIES = ["bullying", "self_harm", "violence", "drugs", "suicide", "extremism"]


def populate(sessions: sessionmaker[Session], *, events: int, devices: int) -> int:
    rng = random.Random(7)
    with transaction(sessions) as session:
        school = School(name="Bench School", phase=Phase.secondary)
        session.add(school)
        session.flush()
        school_id = school.id
        ids = [str(uuid.UUID(int=i + 1)) for i in range(devices)]
        session.execute(
            insert(Device),
            [
                {
                    "id": d,
                    "school_id": school_id,
                    "hostname": f"pc{i}",
                    "certificate_serial": d,
                    "enrolled_at": START - timedelta(days=60),
                }
                for i, d in enumerate(ids)
            ],
        )
    per_device = events // devices
    started = time.perf_counter()
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cursor,
                cursor.copy(
                    'COPY events (device_id, seq, event_id, kind, time, "user", text, detail) FROM STDIN'
                ) as copy,
            ):
                for d in ids:
                    step = SECONDS / per_device
                    for seq in range(1, per_device + 1):
                        when = START + timedelta(seconds=seq * step)
                        copy.write_row(
                            (d, seq, f"{d[-8:]}-{seq}", "typed_text", when, "pupil", "hello", "{}")
                        )
            raw.commit()
        finally:
            raw.close()
    else:
        # The raw driver with timestamps already in SQLAlchemy's SQLite text format:
        # no per-row type processing.
        raw = engine.raw_connection()
        try:
            step = SECONDS / per_device
            for d in ids:
                raw.cursor().executemany(
                    'INSERT INTO events (device_id, seq, event_id, kind, time, "user", text, detail)'
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (
                        (
                            d,
                            seq,
                            f"{d[-8:]}-{seq}",
                            "typed_text",
                            (START + timedelta(seconds=seq * step)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                            "pupil",
                            "hello",
                            "{}",
                        )
                        for seq in range(1, per_device + 1)
                    ),
                )
            raw.commit()
        finally:
            raw.close()
    loaded = time.perf_counter() - started
    print(
        f"  inserted {per_device * devices:,} events in {loaded:.1f} s"
        f" ({per_device * devices / loaded:,.0f}/s)"
    )
    with transaction(sessions) as session:
        session.execute(
            insert(Alert),
            [
                {
                    "school_id": school_id,
                    "device_id": rng.choice(ids),
                    "user": "pupil",
                    "event_seq": n,
                    "event_time": START + timedelta(seconds=rng.uniform(0, SECONDS)),
                    "created_at": START + timedelta(seconds=rng.uniform(0, SECONDS)),
                    "source": "rule",
                    "category": rng.choice(CATEGORIES),
                    "risk": rng.randint(1, 5),
                    "rule_id": f"rule.{n % 40}",
                    "status": rng.choice(list(AlertStatus)),
                }
                for n in range(ALERTS)
            ],
        )
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return school_id


def best_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def bench(label: str, url: str, *, events: int, devices: int) -> None:
    print(f"{label}: {url.split('?')[0]}")
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    school_id = populate(sessions, events=events, devices=devices)
    start, end = service.month_bounds(MONTH, LONDON)

    def baseline() -> None:
        with sessions() as session:
            session.scalar(
                select(func.count()).select_from(Event).where(Event.time >= start, Event.time < end)
            )

    def report() -> None:
        with sessions() as session:
            figures = service.monthly(session=session, school_id=school_id, month=MONTH, tz=LONDON)
        assert figures.coverage.events == events // devices * devices, figures.coverage.events
        assert figures.alerts_total == ALERTS

    base, monthly = best_of(3, baseline), best_of(3, report)
    print(f"  baseline SELECT count(*) over the month's events: {base * 1000:,.0f} ms")
    print(f"  monthly report (all figures):                     {monthly * 1000:,.0f} ms")
    print(f"  ratio report / baseline:                          {monthly / base:.2f}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", events=args.events, devices=args.devices)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        bench(
            "PostgreSQL",
            f"{args.postgres}?options=-csearch_path%3D{schema}",
            events=args.events,
            devices=args.devices,
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
