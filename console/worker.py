"""The detection-worker process (`safeguard worker`): JetStream in, store and detect, commit, ack.

Run as many as the database and CPUs allow next to the ingest consoles (`bus = nats`).
It does not migrate the database: the console or `safeguard db upgrade` does that first.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from prometheus_client import start_http_server

import console.models  # noqa: F401  (every table, so that foreign keys between domains resolve)
from console.detection import build_detector
from console.ingest.nats_bus import DetectionWorker
from console.ingest.server import limits_from
from console.settings import Settings
from console.store import make_engine, make_sessionmaker

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, metrics_host: str, metrics_port: int) -> None:
    """Consume until SIGINT/SIGTERM; the batches in hand are committed and acked before exit."""
    engine = make_engine(settings.resolved_database_url)
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host)
        log.info("worker metrics on http://%s:%d/metrics", metrics_host, metrics_port)
    worker = DetectionWorker(
        url=settings.nats_url,
        sessions=make_sessionmaker(engine),
        detector=build_detector(settings),
        limits=limits_from(settings),
        ack_wait_seconds=settings.nats_ack_wait_seconds,
        max_batches=settings.ingest_max_pending_batches,
        max_events=settings.ingest_max_set_events,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await worker.run(stop)
    finally:
        engine.dispose()
    log.info("detection worker stopped")
