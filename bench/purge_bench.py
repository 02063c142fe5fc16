"""Retention purge on SQLite: rows/s deleted by ``records.purge`` against a bare DELETE of the same rows.

Run: ``python bench/purge_bench.py [--events 200000]``. Two identical databases are filled with raw events
(half past retention), alerts and screenshots; one is purged by the service (which also counts what it
deletes per device and writes the purge log and audit entry), the other by one plain DELETE: the ratio is
the service's overhead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from console.events.models import Event
from console.records import service
from console.settings import Settings
from console.store import make_engine, make_sessionmaker, transaction
from console.store.migrate import upgrade

NOW = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)


def fill(url: str, events: int, devices: int = 200) -> None:
    engine = make_engine(url)
    upgrade(engine)
    ids = [str(uuid.uuid4()) for _ in range(devices)]
    per_device = events // devices
    rows = [
        {"device_id": device, "seq": seq, "event_id": str(uuid.uuid4()), "kind": "typed_text",
         "time": NOW - timedelta(days=60 if seq < per_device // 2 else 1, seconds=-seq), "user": "p", "text": "hello"}
        for device in ids for seq in range(per_device)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Event), rows)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="raw events in each database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        urls = [f"sqlite:///{Path(folder) / name}.db" for name in ("service", "baseline")]
        for url in urls:
            fill(url, args.events)
        settings = Settings(data_dir=Path(folder))

        sessions = make_sessionmaker(make_engine(urls[0]))
        started = time.perf_counter()
        with transaction(sessions) as session:
            run = service.purge(session=session, settings=settings, now=NOW,
                                date_of_birth=service.unknown_date_of_birth)
        service_seconds = time.perf_counter() - started

        engine = make_engine(urls[1])
        started = time.perf_counter()
        with engine.begin() as connection:
            deleted = connection.execute(Event.__table__.delete().where(
                Event.time < NOW - timedelta(days=settings.retention_days["events"]))).rowcount
        baseline_seconds = time.perf_counter() - started

    assert run.counts["events"] == deleted, (run.counts, deleted)
    print(f"events deleted:        {deleted}")
    print(f"records.purge:         {service_seconds:.2f} s ({deleted / service_seconds:,.0f} rows/s)")
    print(f"bare DELETE baseline:  {baseline_seconds:.2f} s ({deleted / baseline_seconds:,.0f} rows/s)")
    print(f"ratio service/baseline: {service_seconds / baseline_seconds:.2f}")


if __name__ == "__main__":
    main()
