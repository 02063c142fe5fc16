"""Which devices opened a stream, when and from which address: written for many streams at once.

Admitting a stream only reads (the device, its certificate, its school and policy). That a device was seen,
and at which address (what attributes web-filter log lines to it), is noted here and written in one
transaction for all the streams that opened meanwhile. When a school's devices all connect at once (a console restart, the first
lesson), a write per stream queued each admission behind the ingest writes for SQLite's lock, in the executor
threads the rest of the console needs: with 200 agents in bench/load.py (a), py-spy found a thread waiting in
such a write in 905 of 1,249 samples of the first seconds.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from console.devices import service as devices
from console.store import transaction
from console.webfilter.service import record_addresses

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class Seen(NamedTuple):
    device_id: str
    address: str | None  # None when the peer is not an IP address (a Unix socket)
    at: datetime


class SeenRecorder:
    def __init__(self, *, sessions: sessionmaker[Session], lock: AbstractContextManager[Any]) -> None:
        self._sessions = sessions
        self._lock = lock  # the ingest writers' turn on SQLite: waiting in it, not in SQLite's busy handler
        self._noted: list[Seen] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="seen-recorder")

    def note(self, seen: Seen) -> None:
        self._noted.append(seen)
        self._wake.set()

    async def close(self) -> None:
        """Write what is noted, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not (self._closing and not self._noted):
            await self._wake.wait()
            self._wake.clear()
            if not self._noted:
                continue
            taken, self._noted = self._noted, []
            try:
                await asyncio.to_thread(self._write, taken)
            except Exception:
                log.exception("recording %d stream openings failed", len(taken))
                if self._closing:
                    return  # each device's next stream notes it again
                self._noted[:0] = taken
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    def _write(self, noted: list[Seen]) -> None:
        with self._lock, transaction(self._sessions) as session:
            devices.mark_seen(session=session, device_ids={seen.device_id for seen in noted}, at=noted[-1].at)
            record_addresses(
                session=session, seen=[(seen.device_id, seen.address, seen.at) for seen in noted if seen.address]
            )
