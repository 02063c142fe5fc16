"""Prometheus metrics of the ingest and detection hot path.

Each process (console or detection worker) keeps its own registry; the console serves it
at ``/metrics`` on its web port, a worker on its own ``--metrics-port``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from console.ingest.service import BatchOutcome, DeviceBatch

__all__ = ["CONTENT_TYPE_LATEST", "exposition", "record_received", "record_stored", "track_connected_agents"]

EVENTS_RECEIVED = Counter("safeguard_events_received", "Events received from agents by ingest.")
BATCHES_RECEIVED = Counter("safeguard_batches_received", "Batches received from agents by ingest.")
EVENTS_STORED = Counter("safeguard_events_stored", "Events newly stored (resends not counted).")
EVENTS_QUARANTINED = Counter("safeguard_events_quarantined", "Events refused by validation and quarantined.")
ALERTS_RAISED = Counter("safeguard_alerts_raised", "Alerts written by detection.")
COMMITS = Counter("safeguard_commits", "Store-and-detect transactions committed.")
COMMIT_FAILURES = Counter("safeguard_commit_failures", "Store-and-detect transactions that failed (retried).")
COMMIT_SECONDS = Histogram(
    "safeguard_commit_seconds",
    "Time to store and detect one gathered set of batches.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DETECTION_LATENCY = Histogram(
    "safeguard_detection_latency_seconds",
    "From the creation of a batch's oldest event on the device to its commit with its alerts.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
QUEUE_DEPTH = Gauge("safeguard_queue_depth", "Batches waiting to be stored, by queue.", ["queue"])
CONNECTED_AGENTS = Gauge("safeguard_connected_agents", "Agent streams open on this process.")


def record_received(batch: DeviceBatch) -> None:
    BATCHES_RECEIVED.inc()
    EVENTS_RECEIVED.inc(len(batch.events))


def record_stored(
    batches: Sequence[DeviceBatch], outcomes: Sequence[BatchOutcome], *, seconds: float, now: datetime
) -> None:
    COMMITS.inc()
    COMMIT_SECONDS.observe(seconds)
    EVENTS_STORED.inc(sum(outcome.stored for outcome in outcomes))
    EVENTS_QUARANTINED.inc(sum(len(outcome.rejected) for outcome in outcomes))
    ALERTS_RAISED.inc(sum(outcome.alerts for outcome in outcomes))
    for batch, outcome in zip(batches, outcomes):
        if outcome.stored and batch.events:
            created = batch.events[0].time.ToDatetime(tzinfo=timezone.utc)
            DETECTION_LATENCY.observe(max(0.0, (now - created).total_seconds()))


def track_connected_agents(count: Callable[[], int]) -> None:
    CONNECTED_AGENTS.set_function(count)


def exposition() -> bytes:
    return generate_latest()
