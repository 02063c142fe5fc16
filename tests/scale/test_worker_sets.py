"""A detection worker prepares its next set while the last one is committed. The next set is put in
order after the one being written, so when that one fails to commit the next is handed back with it:
stored over the gap, it would move the device's stored-through seq past events that were never
stored, and their redelivery would then be skipped as a resend. A set put in order after the failure
was over is written. A worker whose membership fails stops. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from scale_harness import NatsServer
from sqlalchemy.orm import Session, sessionmaker
from support.ingest_rows import new_device, stored_rows, typed_batch
from support.processes import wait_for

from console.detection import build_detector
from console.ingest import nats_bus
from console.ingest.nats_bus import DetectionWorker, NatsBus
from console.ingest.validate import Limits
from console.settings import Settings

pytestmark = pytest.mark.nats

LIMITS = Limits(max_batch_events=1000, max_text_chars=10_000, max_future_skew=timedelta(minutes=5), max_age=timedelta(days=30))


def test_the_set_after_one_that_failed_to_commit_is_handed_back_with_it(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    device_id, school_id = new_device(sessions)
    first, second = typed_batch(device_id, school_id, range(1, 6)), typed_batch(device_id, school_id, range(6, 11))
    first_in_write, second_prepared = threading.Event(), threading.Event()
    writes: list[list[int]] = []
    prepared_during_first_write: list[bool] = []
    prepare_set, write_set = nats_bus.prepare_set, nats_bus.write_set

    def prepare(*args, **kwargs):
        prepared = prepare_set(*args, **kwargs)
        if any(batch.events[0].seq == 6 for batch in kwargs["batches"]):
            second_prepared.set()
        return prepared

    def write(sessions_, prepared):
        writes.append([batch.events[0].seq for batch in prepared.batches])
        if len(writes) == 1:  # the first set: its commit fails once the second set is prepared behind it
            first_in_write.set()
            prepared_during_first_write.append(second_prepared.wait(timeout=20))
            raise ConnectionError("the database connection was cut")
        return write_set(sessions_, prepared)

    monkeypatch.setattr(nats_bus, "prepare_set", prepare)
    monkeypatch.setattr(nats_bus, "write_set", write)

    async def during(bus: NatsBus) -> None:
        await bus.publish(first)
        assert await asyncio.to_thread(first_in_write.wait, 20), "the worker did not take the first batch"
        await bus.publish(second)
        await asyncio.to_thread(wait_for, lambda: stored_rows(sessions, device_id)[0] == list(range(1, 11)),
                                timeout=30, what="both batches stored")

    _with_worker(tmp_path, sessions, during)
    # Checked here: an assertion inside the write would only count as one more failed commit.
    assert prepared_during_first_write == [True], "the worker did not prepare the next set during the write"
    assert writes[0] == [1] and writes[1][0] == 1, f"the second set was written before the first: {writes}"
    assert stored_rows(sessions, device_id)[2] == 10


def test_a_set_taken_after_a_failed_commit_ended_is_written_not_handed_back(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    device_id, school_id = new_device(sessions)
    prepared_firsts: list[int] = []  # the first seq of each set prepared
    writes = 0
    prepare_set, write_set = nats_bus.prepare_set, nats_bus.write_set

    def prepare(*args, **kwargs):
        prepared_firsts.append(kwargs["batches"][0].events[0].seq)
        return prepare_set(*args, **kwargs)

    def write(sessions_, prepared):
        nonlocal writes
        writes += 1
        if writes == 1:
            raise ConnectionError("the database connection was cut")
        return write_set(sessions_, prepared)

    monkeypatch.setattr(nats_bus, "prepare_set", prepare)
    monkeypatch.setattr(nats_bus, "write_set", write)

    async def during(bus: NatsBus) -> None:
        await bus.publish(typed_batch(device_id, school_id, range(1, 6)))
        await asyncio.to_thread(wait_for, lambda: stored_rows(sessions, device_id)[0] == list(range(1, 6)),
                                timeout=30, what="the batch stored")

    _with_worker(tmp_path, sessions, during)
    # The failed commit's batch is redelivered after its write ended: prepared once more and written, not
    # handed back a second time because the write before it had failed.
    assert prepared_firsts == [1, 1] and writes == 2, f"prepared {prepared_firsts}, {writes} writes"


def test_a_worker_whose_membership_fails_stops_with_the_error(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Without its heartbeats the other workers take its partitions; consuming them as well, it would only make
    batches wait. Stopping, it is restarted by its supervisor."""

    def broken(member, members):
        raise RuntimeError("the membership broke")

    monkeypatch.setattr(nats_bus, "partitions_of", broken)
    server = NatsServer(tmp_path / "nats").start()
    worker = DetectionWorker(
        url=server.url, sessions=sessions, detector=build_detector(Settings(classifier_enabled=False)), limits=LIMITS
    )

    async def run() -> None:
        await asyncio.wait_for(worker.run(asyncio.Event()), timeout=20)

    try:
        with pytest.raises(RuntimeError, match="the membership broke"):
            asyncio.run(run())
    finally:
        server.stop()


def _with_worker(tmp_path: Path, sessions: sessionmaker[Session], during: Callable[[NatsBus], Awaitable[None]]) -> None:
    """A NATS server, an ingest bus and a detection worker, while `during` publishes and waits."""
    server = NatsServer(tmp_path / "nats").start()

    async def scenario() -> None:
        bus = NatsBus(url=server.url, limits=LIMITS)
        await bus.start()
        worker = DetectionWorker(
            url=server.url, sessions=sessions, detector=build_detector(Settings(classifier_enabled=False)), limits=LIMITS
        )
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await during(bus)
        finally:
            stop.set()
            await running
            await bus.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
