"""The durable, bounded local queue (SQLite WAL) between capture and sender.

Every event is written here before it is sent and deleted only when the console has
acknowledged it. When the spool is over its size or age bound it drops the lowest-value
events first (status, then window focus, then web visits, then text), oldest first; it
never drops a screenshot taken because of a detection. What it drops is counted by kind
and reported in the agent's status events.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safeguard_proto.v1 import agent_pb2 as pb

# Lower value is dropped first; PROTECTED is never dropped.
PROTECTED = 100
AGE_CHECK_SECONDS = 60.0
VALUE = {"agent_status": 0, "window_focus": 1, "web_visit": 2, "typed_text": 3, "screenshot": 4}

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    value INTEGER NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_value ON events (value, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class SpoolStats:
    depth: int
    bytes: int
    dropped: dict[str, int]


class Spool:
    def __init__(self, path: Path, *, max_bytes: int, max_age_seconds: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._max_bytes = max_bytes
        self._max_age = max_age_seconds
        self._listeners: list[Callable[[], None]] = []
        self._age_checked_at = 0.0
        row = self._db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        self._next_seq = row[0] if row else 1
        self._bytes, self._depth = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM events").fetchone()

    def on_put(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the putting thread) after each event is stored."""
        self._listeners.append(listener)

    def put(self, event: pb.Event) -> int:
        """Assign the next seq, store the event durably, enforce the bounds; return the seq."""
        kind = event.WhichOneof("kind") or ""
        value = VALUE.get(kind, 0)
        if kind == "screenshot" and event.screenshot.trigger_seq:
            value = PROTECTED
        with self._lock:
            seq = self._next_seq
            event.seq = seq
            body = event.SerializeToString()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO events (seq, kind, value, created, size, body) VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, kind, value, time.time(), len(body), body),
                )
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('next_seq', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (seq + 1,),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._next_seq = seq + 1
            self._bytes += len(body)
            self._depth += 1
            self._enforce_bounds()
        for listener in self._listeners:
            listener()
        return seq

    def _enforce_bounds(self) -> None:
        victims: list[tuple[int, str, int]] = []
        now = time.time()
        if now - self._age_checked_at >= AGE_CHECK_SECONDS:
            self._age_checked_at = now
            victims = self._db.execute(
                "SELECT seq, kind, size FROM events WHERE created < ? AND value < ?", (now - self._max_age, PROTECTED)
            ).fetchall()
        excess = self._bytes - sum(size for _, _, size in victims) - self._max_bytes
        if excess > 0:
            chosen = {seq for seq, _, _ in victims}
            for seq, kind, size in self._db.execute(
                "SELECT seq, kind, size FROM events WHERE value < ? ORDER BY value, seq", (PROTECTED,)
            ):
                if excess <= 0:
                    break
                if seq not in chosen:
                    victims.append((seq, kind, size))
                    excess -= size
        if not victims:
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("DELETE FROM events WHERE seq = ?", [(seq,) for seq, _, _ in victims])
        for _, kind, _ in victims:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET value = value + 1",
                (f"dropped:{kind}",),
            )
        self._db.execute("COMMIT")
        self._bytes -= sum(size for _, _, size in victims)
        self._depth -= len(victims)

    def pending(self, after_seq: int, limit: int) -> list[pb.Event]:
        """Stored events with seq > after_seq, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
            ).fetchall()
        return [pb.Event.FromString(body) for (body,) in rows]

    def ack(self, through_seq: int) -> int:
        """Delete every event with seq <= through_seq (the console has stored them)."""
        with self._lock:
            size, count = self._db.execute(
                "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM events WHERE seq <= ?", (through_seq,)
            ).fetchone()
            if count:
                self._db.execute("DELETE FROM events WHERE seq <= ?", (through_seq,))
                self._bytes -= size
                self._depth -= count
            return count

    def stats(self) -> SpoolStats:
        with self._lock:
            dropped = {
                key.removeprefix("dropped:"): value
                for key, value in self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped:%'")
            }
            return SpoolStats(depth=self._depth, bytes=self._bytes, dropped=dropped)

    def close(self) -> None:
        with self._lock:
            self._db.close()
