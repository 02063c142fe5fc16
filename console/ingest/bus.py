"""Between ingest and detection: a bus whose `publish` returns only once a batch is durable.

`InProcessBus` (the embedded default) gathers the batches waiting from all streams, up to an
event budget, and stores and detects them as one set, so that one commit and one detector
call serve many devices. `publish` resolves after that commit: the ack the agent then
receives means "stored".

Each set is prepared (validated, detected, turned into rows: CPU, no lock) and then written
(the database's write lock held only for that). The next set is gathered and prepared while
the previous one is written, and the sets are written in order. Under light load a set is
whatever arrived while the previous one was in hand, so it is committed promptly; under heavy
load sets grow up to the budget and the per-commit costs are spread over many events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from console import metrics
from console.detect import Detector
from console.ingest.service import BatchOutcome, DeviceBatch, PreparedSet, prepare_set, settle_collector, write_set
from console.ingest.validate import Limits
from console.ingest.writelock import ingest_write_lock
from console.store import utcnow

log = logging.getLogger(__name__)


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, batch: DeviceBatch) -> BatchOutcome:
        """Resolve once the batch is durably stored (or raise)."""

    async def close(self) -> None:
        """Finish what was published, then stop."""


_Pending = tuple[DeviceBatch, "asyncio.Future[BatchOutcome]"]


class InProcessBus:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        detector: Detector,
        limits: Limits,
        flush_seconds: float = 0.005,
        max_pending: int = 1000,
        max_events: int = 10_000,
        on_stored: Callable[[list[BatchOutcome]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._detector = detector
        self._limits = limits
        self._flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._max_events = max_events
        self._on_stored = on_stored
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._depth = metrics.QUEUE_DEPTH.labels("inprocess")
        self._write_lock = ingest_write_lock(sessions.kw["bind"])

    async def start(self) -> None:
        settle_collector()
        self._worker = asyncio.create_task(self._run(), name="ingest-committer")

    async def publish(self, batch: DeviceBatch) -> BatchOutcome:
        if self._worker is None or self._worker.done():
            raise RuntimeError("the ingest bus is not running")
        metrics.record_received(batch)
        future: asyncio.Future[BatchOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((batch, future))
        self._depth.set(self._queue.qsize())
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            await self._queue.put(None)
            await self._worker

    def _prepare(self, batches: list[DeviceBatch]) -> PreparedSet:
        return prepare_set(self._sessions, detector=self._detector, batches=batches, limits=self._limits)

    def _write(self, prepared: PreparedSet) -> list[BatchOutcome]:
        return write_set(self._sessions, prepared, lock=self._write_lock)

    async def _gather(self) -> tuple[list[_Pending], bool]:
        """The next set: what is waiting, up to the budget. Only when nothing was waiting does it wait (the
        flush time) for more to arrive, so that a quiet console still commits several streams at once.
        Returns the set and whether the bus was asked to stop."""
        loop = asyncio.get_running_loop()
        waited = self._queue.empty()
        first = await self._queue.get()
        if first is None:
            return [], True
        pending = [first]
        events = len(first[0].events)
        deadline = loop.time() + (self._flush_seconds if waited else 0.0)
        while len(pending) < self._max_pending and events < self._max_events:
            try:
                if not self._queue.empty():
                    item = self._queue.get_nowait()
                else:
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                break
            if item is None:
                return pending, True
            pending.append(item)
            events += len(item[0].events)
        self._depth.set(self._queue.qsize())
        return pending, False

    async def _run(self) -> None:
        writing: asyncio.Task[None] | None = None
        stopping = False
        while not stopping:
            pending, stopping = await self._gather()
            if not pending:
                break
            batches = [batch for batch, _ in pending]
            started = time.perf_counter()
            try:
                prepared = await asyncio.to_thread(self._prepare, batches)
            except Exception as error:
                self._failed(pending, error)
                continue
            if writing is not None:
                await writing  # sets are written in the order they were gathered
            writing = asyncio.create_task(self._store(pending, prepared, started))
        if writing is not None:
            await writing

    async def _store(self, pending: list[_Pending], prepared: PreparedSet, started: float) -> None:
        try:
            outcomes = await asyncio.to_thread(self._write, prepared)
        except Exception as error:
            self._failed(pending, error)
            return
        batches = prepared.batches
        metrics.record_stored(batches, outcomes, seconds=time.perf_counter() - started, now=utcnow())
        for (_, future), outcome in zip(pending, outcomes):
            if not future.done():
                future.set_result(outcome)
        if self._on_stored is not None:
            self._on_stored(outcomes)

    @staticmethod
    def _failed(pending: list[_Pending], error: Exception) -> None:
        metrics.COMMIT_FAILURES.inc()
        log.error("storing %d batches failed", len(pending), exc_info=error)
        for _, future in pending:
            if not future.done():
                future.set_exception(error)
