"""Between ingest and detection: a bus whose `publish` returns only once a batch is durable.

`InProcessBus` (the embedded default) gathers the batches that arrive within a few
milliseconds from all streams and stores and detects them in one transaction, so that
one commit and one detector call serve many devices. `publish` resolves after that
commit: the ack the agent then receives means "stored".
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from console import metrics
from console.detect import Detector
from console.ingest.service import BatchOutcome, DeviceBatch, store_batches
from console.ingest.validate import Limits
from console.store import transaction, utcnow

log = logging.getLogger(__name__)


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, batch: DeviceBatch) -> BatchOutcome:
        """Resolve once the batch is durably stored (or raise)."""

    async def close(self) -> None:
        """Finish what was published, then stop."""


class InProcessBus:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        detector: Detector,
        limits: Limits,
        flush_seconds: float = 0.005,
        max_pending: int = 64,
        on_stored: Callable[[list[BatchOutcome]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._detector = detector
        self._limits = limits
        self._flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._on_stored = on_stored
        self._queue: asyncio.Queue[tuple[DeviceBatch, asyncio.Future[BatchOutcome]] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Everything loaded by now (the detector's rules, automaton and model, the app) lives as long as the
        # process: move it out of the cyclic collector's way. Otherwise each full collection, triggered every
        # few thousand allocations on the hot path, walks all of it: about 40% of store_batches' CPU outside
        # detection (bench/store_bench.py). Reference counting still frees everything as before.
        gc.freeze()
        self._worker = asyncio.create_task(self._run(), name="ingest-committer")

    async def publish(self, batch: DeviceBatch) -> BatchOutcome:
        if self._worker is None or self._worker.done():
            raise RuntimeError("the ingest bus is not running")
        metrics.record_received(batch)
        future: asyncio.Future[BatchOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((batch, future))
        metrics.QUEUE_DEPTH.labels("inprocess").set(self._queue.qsize())
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            await self._queue.put(None)
            await self._worker

    def _commit(self, batches: list[DeviceBatch]) -> list[BatchOutcome]:
        with transaction(self._sessions) as session:
            return store_batches(
                session=session, detector=self._detector, batches=batches, limits=self._limits, now=utcnow()
            )

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            pending = [first]
            deadline = asyncio.get_running_loop().time() + self._flush_seconds
            while len(pending) < self._max_pending:
                timeout = deadline - asyncio.get_running_loop().time()
                try:
                    item = self._queue.get_nowait() if timeout <= 0 else await asyncio.wait_for(self._queue.get(), timeout)
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                if item is None:
                    stopping = True
                    break
                pending.append(item)
            batches = [batch for batch, _ in pending]
            metrics.QUEUE_DEPTH.labels("inprocess").set(self._queue.qsize())
            started = time.perf_counter()
            try:
                outcomes = await asyncio.to_thread(self._commit, batches)
            except Exception as error:
                metrics.COMMIT_FAILURES.inc()
                log.exception("storing %d batches failed", len(batches))
                for _, future in pending:
                    if not future.done():
                        future.set_exception(error)
                continue
            metrics.record_stored(batches, outcomes, seconds=time.perf_counter() - started, now=utcnow())
            for (_, future), outcome in zip(pending, outcomes):
                if not future.done():
                    future.set_result(outcome)
            if self._on_stored is not None:
                self._on_stored(outcomes)
