"""Web visits read from the browsers' own history databases (Chrome, Edge, Brave, Chromium, Firefox).

The browser keeps its history file open and locked, so each read copies the file (and its WAL and journal
files) to a private directory and opens the copy read-only. A cursor per history file, kept in the agent's
state directory, records the last visit id read, so every visit is reported once, across restarts too.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WEBKIT_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

# (browser, kind, glob below the platform's base directory)
_CHROMIUM_PROFILES = ("Default", "Profile *", "Guest Profile")
_LOCATIONS: dict[str, list[tuple[str, str, str]]] = {
    "linux": [
        ("chrome", "chromium", ".config/google-chrome/{profile}/History"),
        ("chromium", "chromium", ".config/chromium/{profile}/History"),
        ("edge", "chromium", ".config/microsoft-edge/{profile}/History"),
        ("brave", "chromium", ".config/BraveSoftware/Brave-Browser/{profile}/History"),
        ("chromium", "chromium", "snap/chromium/common/chromium/{profile}/History"),
        ("firefox", "firefox", ".mozilla/firefox/*/places.sqlite"),
        ("firefox", "firefox", "snap/firefox/common/.mozilla/firefox/*/places.sqlite"),
    ],
    "win32": [
        ("chrome", "chromium", "AppData/Local/Google/Chrome/User Data/{profile}/History"),
        ("edge", "chromium", "AppData/Local/Microsoft/Edge/User Data/{profile}/History"),
        ("brave", "chromium", "AppData/Local/BraveSoftware/Brave-Browser/User Data/{profile}/History"),
        ("chromium", "chromium", "AppData/Local/Chromium/User Data/{profile}/History"),
        ("firefox", "firefox", "AppData/Roaming/Mozilla/Firefox/Profiles/*/places.sqlite"),
    ],
    "darwin": [
        ("chrome", "chromium", "Library/Application Support/Google/Chrome/{profile}/History"),
        ("edge", "chromium", "Library/Application Support/Microsoft Edge/{profile}/History"),
        ("brave", "chromium", "Library/Application Support/BraveSoftware/Brave-Browser/{profile}/History"),
        ("chromium", "chromium", "Library/Application Support/Chromium/{profile}/History"),
        ("firefox", "firefox", "Library/Application Support/Firefox/Profiles/*/places.sqlite"),
    ],
}

_QUERIES = {
    "chromium": "SELECT v.id, u.url, u.title, v.visit_time FROM visits v JOIN urls u ON u.id = v.url"
    " WHERE v.id > ? ORDER BY v.id",
    "firefox": "SELECT v.id, p.url, p.title, v.visit_date FROM moz_historyvisits v"
    " JOIN moz_places p ON p.id = v.place_id WHERE v.id > ? ORDER BY v.id",
}
_MAX_IDS = {"chromium": "SELECT max(id) FROM visits", "firefox": "SELECT max(id) FROM moz_historyvisits"}


@dataclass(frozen=True)
class HistoryFile:
    browser: str
    kind: str  # "chromium" or "firefox": the schema of the file
    path: Path


@dataclass(frozen=True)
class Visit:
    url: str
    title: str
    browser: str
    time: datetime


def discover(home: Path, platform: str = sys.platform) -> list[HistoryFile]:
    """Every browser history file under a user's home directory, for each profile."""
    found = []
    for browser, kind, pattern in _LOCATIONS.get(platform, _LOCATIONS["linux"]):
        profiles = _CHROMIUM_PROFILES if "{profile}" in pattern else ("",)
        for profile in profiles:
            found += [
                HistoryFile(browser, kind, p) for p in sorted(home.glob(pattern.format(profile=profile)))
            ]
    return found


def history_file(path: Path) -> HistoryFile:
    """A history file named explicitly (the settings override): its schema from its name, the browser from
    the path."""
    if path.name == "places.sqlite":
        return HistoryFile("firefox", "firefox", path)
    if path.name != "History":
        raise ValueError(f"{path}: not a browser history file (expected 'History' or 'places.sqlite')")
    text = str(path).lower()
    browser = next(
        (b for key, b in [("edge", "edge"), ("brave", "brave"), ("chrome", "chrome")] if key in text),
        "chromium",
    )
    return HistoryFile(browser, "chromium", path)


def _visit_time(kind: str, value: int) -> datetime:
    if kind == "chromium":
        return WEBKIT_EPOCH + timedelta(microseconds=value)
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def read_visits(history: HistoryFile, after_id: int) -> tuple[list[tuple[int, Visit]], int]:
    """Visits with an id above ``after_id`` (id order), and the highest visit id in the file now.

    Raises sqlite3.Error when the copy is unreadable (for example torn by a concurrent write); the caller
    retries on the next change.
    """
    with tempfile.TemporaryDirectory(prefix="safeguard-history-") as scratch:
        copy = Path(scratch) / history.path.name
        for suffix in ("", "-wal", "-journal"):
            source = history.path.with_name(history.path.name + suffix)
            if source.exists():
                shutil.copyfile(source, copy.with_name(copy.name + suffix))
        connection = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(_QUERIES[history.kind], (after_id,)).fetchall()
            (max_id,) = connection.execute(_MAX_IDS[history.kind]).fetchone()
        finally:
            connection.close()
    visits = [
        (i, Visit(url, title or "", history.browser, _visit_time(history.kind, t)))
        for i, url, title, t in rows
    ]
    return visits, max_id or 0


class Cursors:
    """The last visit id read from each history file, saved as JSON after every change."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._values: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, history: Path) -> int | None:
        return self._values.get(str(history))

    def set(self, history: Path, visit_id: int) -> None:
        self._values[str(history)] = visit_id
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._values))
        os.replace(temporary, self._path)


class WebSource:
    """Watches history files with watchdog and reports each new visit once through ``on_visit``.

    The first time a history file is seen, visits older than ``lookback`` are skipped, so installing the
    agent does not upload a pupil's whole past history.
    """

    def __init__(
        self,
        files: Callable[[], Iterable[HistoryFile]],
        cursors: Cursors,
        on_visit: Callable[[Visit], None],
        *,
        lookback: timedelta,
        settle_seconds: float = 1.0,
    ) -> None:
        self._files = files
        self._cursors = cursors
        self._on_visit = on_visit
        self._lookback = lookback
        self._settle = settle_seconds
        self._lock = threading.Lock()
        self._watched: dict[Path, HistoryFile] = {}
        self._timers: dict[Path, threading.Timer] = {}
        self._observer: Any = None  # a watchdog Observer while started

    def start(self) -> None:
        from watchdog.observers import Observer  # imported when web capture starts, not with the agent

        self._observer = Observer()
        self._observer.start()
        self.rescan()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            self._watched.clear()

    def rescan(self) -> None:
        """Start watching history files that appeared since the last scan (new browser, new profile)."""
        for history in self._files():
            with self._lock:
                if history.path in self._watched or self._observer is None:
                    continue
                self._watched[history.path] = history
                self._observer.schedule(_Handler(self), str(history.path.parent), recursive=False)
            self.read(history)

    def changed(self, path: Path) -> None:
        """A file in a watched directory changed: read its history file once writes have settled."""
        with self._lock:
            history = next(
                (
                    h
                    for p, h in self._watched.items()
                    if path.name.startswith(p.name) and path.parent == p.parent
                ),
                None,
            )
            if history is None or self._observer is None:
                return
            timer = self._timers.pop(history.path, None)
            if timer is not None:
                timer.cancel()
            timer = threading.Timer(self._settle, self.read, args=(history,))
            timer.daemon = True
            self._timers[history.path] = timer
            timer.start()

    def read(self, history: HistoryFile) -> None:
        """Report the visits added to ``history`` since its cursor and move the cursor past them."""
        with self._lock:
            cursor = self._cursors.get(history.path)
            try:
                visits, max_id = read_visits(history, cursor or 0)
            except (OSError, sqlite3.Error) as error:
                log.warning("cannot read %s history %s yet: %s", history.browser, history.path, error)
                return
            if cursor is not None and max_id < cursor:  # history cleared: ids start again
                visits, cursor = read_visits(history, 0)[0], 0
            oldest = datetime.now(UTC) - self._lookback
            for visit_id, visit in visits:
                if cursor is not None or visit.time >= oldest:
                    self._on_visit(visit)
            self._cursors.set(history.path, max(max_id, cursor or 0))


class _Handler:
    """What watchdog's observer calls (``dispatch``) for each event in a watched directory."""

    def __init__(self, source: WebSource) -> None:
        self._source = source

    def dispatch(self, event: Any) -> None:
        if not event.is_directory and event.event_type in ("created", "modified", "moved", "closed"):
            self._source.changed(Path(os.fsdecode(getattr(event, "dest_path", "") or event.src_path)))
