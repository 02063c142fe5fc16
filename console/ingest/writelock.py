"""Turns between console processes writing one SQLite file.

SQLite lets one writer in at a time; a process that finds the file locked sleeps in steps of up to
100 ms (the busy handler) before trying again, so two consoles sharing a file spent much of their
time asleep while the lock was free. Ingest writers take an advisory lock on a file beside the
database first (``flock``: a waiting process wakes as soon as it is released), then SQLite's lock,
which is then almost always free. Other writers (the web console, the CLI) are unaffected: they go
straight to SQLite's lock as before. On PostgreSQL, for an in-memory database, and where ``flock``
does not exist, it does nothing.
"""

from __future__ import annotations

import functools
import os
import threading
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import Engine

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class _FileLock(AbstractContextManager[None]):
    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None
        self._threads = threading.Lock()  # flock does not exclude threads sharing the descriptor

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def ingest_write_lock(engine: Engine) -> AbstractContextManager[None]:
    """The lock to hold around an ingest write transaction on this engine's database: one per database in a
    process, shared by all its ingest writers (the bus's sets, the streams' openings)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or fcntl is None or not database or database == ":memory:":
        return nullcontext()
    return _file_lock(os.path.abspath(f"{database}-ingest.lock"))


@functools.cache
def _file_lock(path: str) -> _FileLock:
    return _FileLock(path)
