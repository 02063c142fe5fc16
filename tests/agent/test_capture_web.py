"""Browser history capture against real Chrome- and Firefox-format SQLite files, one of them locked."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.capture.web import WEBKIT_EPOCH, Cursors, HistoryFile, Visit, WebSource, discover, history_file

NOW = datetime.now(UTC).replace(microsecond=0)


class Chrome:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(
            "CREATE TABLE urls (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR,"
            " visit_count INTEGER);"
            "CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER NOT NULL, visit_time INTEGER NOT NULL,"
            " from_visit INTEGER, transition INTEGER);"
        )

    def visit(self, url: str, title: str, when: datetime) -> None:
        url_id = self.db.execute(
            "INSERT INTO urls (url, title, visit_count) VALUES (?, ?, 1)", (url, title)
        ).lastrowid
        webkit = (when - WEBKIT_EPOCH) // timedelta(microseconds=1)
        self.db.execute(
            "INSERT INTO visits (url, visit_time, transition) VALUES (?, ?, 805306368)", (url_id, webkit)
        )


class Firefox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")  # as Firefox keeps places.sqlite
        self.db.execute("PRAGMA wal_autocheckpoint=0")  # new visits stay in the -wal file
        self.db.executescript(
            "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR);"
            "CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER,"
            " visit_date INTEGER, visit_type INTEGER);"
        )

    def visit(self, url: str, title: str | None, when: datetime) -> None:
        place = self.db.execute("INSERT INTO moz_places (url, title) VALUES (?, ?)", (url, title)).lastrowid
        micros = int(when.timestamp() * 1_000_000)
        self.db.execute(
            "INSERT INTO moz_historyvisits (place_id, visit_date, visit_type) VALUES (?, ?, 1)",
            (place, micros),
        )


class Visits:
    def __init__(self) -> None:
        self.seen: list[Visit] = []
        self._lock = threading.Lock()

    def __call__(self, visit: Visit) -> None:
        with self._lock:
            self.seen.append(visit)

    def wait_for(self, count: int, timeout: float = 15) -> list[Visit]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.seen) >= count:
                    return list(self.seen)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} visits, saw {self.seen}")


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[tuple[Chrome, Firefox]]:
    chrome = Chrome(tmp_path / "home" / ".config" / "google-chrome" / "Default" / "History")
    firefox = Firefox(tmp_path / "home" / ".mozilla" / "firefox" / "x1y2.default-release" / "places.sqlite")
    yield chrome, firefox
    chrome.db.close()
    firefox.db.close()


def source(tmp_path: Path, files: list[HistoryFile], visits: Visits) -> WebSource:
    return WebSource(
        lambda: files, Cursors(tmp_path / "state" / "web-cursors.json"), visits, lookback=timedelta(hours=24),
        settle_seconds=0.2,
    )  # fmt: skip


def test_new_visits_are_read_once_each_from_locked_files_and_across_restarts(tmp_path, browsers) -> None:
    chrome, firefox = browsers
    chrome.visit("https://old.example/", "Old", NOW - timedelta(days=3))  # before the lookback: skipped
    chrome.visit("https://www.bbc.co.uk/bitesize", "Bitesize", NOW - timedelta(minutes=5))
    firefox.visit(
        "https://en.wikipedia.org/wiki/Photosynthesis", "Photosynthesis", NOW - timedelta(minutes=4)
    )
    files = discover(tmp_path / "home")
    assert [(f.browser, f.kind) for f in files] == [("chrome", "chromium"), ("firefox", "firefox")]

    visits = Visits()
    web = source(tmp_path, files, visits)
    web.start()
    first = visits.wait_for(2)
    assert sorted((v.browser, v.url, v.title, v.time) for v in first) == [
        ("chrome", "https://www.bbc.co.uk/bitesize", "Bitesize", NOW - timedelta(minutes=5)),
        (
            "firefox",
            "https://en.wikipedia.org/wiki/Photosynthesis",
            "Photosynthesis",
            NOW - timedelta(minutes=4),
        ),
    ]

    # Chrome holds its file locked while running; Firefox's new visits sit in the WAL file.
    chrome.visit("https://www.google.com/search?q=revision", "revision - Google Search", NOW)
    chrome.db.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite3.connect(chrome.path, timeout=0).execute("SELECT count(*) FROM visits").fetchone()
    firefox.visit("https://www.sparxmaths.uk/", None, NOW)
    assert (firefox.path.parent / "places.sqlite-wal").stat().st_size > 0
    second = visits.wait_for(4)
    assert sorted(v.url for v in second[2:]) == [
        "https://www.google.com/search?q=revision",
        "https://www.sparxmaths.uk/",
    ]
    assert [v.title for v in second if v.browser == "firefox"][-1] == ""
    chrome.db.execute("COMMIT")
    web.stop()

    # A restart reads only what is new since the cursors were saved.
    chrome.visit("https://www.youtube.com/", "YouTube", NOW)
    again = Visits()
    web = source(tmp_path, files, again)
    web.start()
    assert [v.url for v in again.wait_for(1)] == ["https://www.youtube.com/"]

    # Cleared history: visit ids start again below the cursor, and the new visits are still read.
    firefox.db.execute("DELETE FROM moz_historyvisits")
    firefox.visit("https://www.bbc.co.uk/news", "News", NOW)
    assert [v.url for v in again.wait_for(2)][1:] == ["https://www.bbc.co.uk/news"]
    time.sleep(1)  # writes settle (0.2 s) and nothing more arrives
    web.stop()
    assert len(again.seen) == 2


def test_unreadable_history_is_retried_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "Chromium" / "Default" / "History"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a database" * 100)
    visits = Visits()
    web = source(tmp_path, [history_file(broken)], visits)
    web.start()
    assert "cannot read chromium history" in caplog.text
    assert not (tmp_path / "state" / "web-cursors.json").exists()

    broken.unlink()
    chrome = Chrome(broken)
    chrome.visit("https://www.bbc.co.uk/", "BBC", NOW)
    assert [v.url for v in visits.wait_for(1)] == ["https://www.bbc.co.uk/"]
    web.stop()
    chrome.db.close()


def test_history_file_names_the_browser_and_refuses_other_files(tmp_path: Path) -> None:
    edge = history_file(Path("C:/Users/pupil/AppData/Local/Microsoft/Edge/User Data/Default/History"))
    assert (edge.browser, edge.kind) == ("edge", "chromium")
    assert history_file(tmp_path / "places.sqlite").browser == "firefox"
    with pytest.raises(ValueError, match="not a browser history file"):
        history_file(tmp_path / "Cookies")


def test_discover_finds_every_profile_per_platform(tmp_path: Path) -> None:
    for relative in (
        "AppData/Local/Microsoft/Edge/User Data/Default/History",
        "AppData/Local/Microsoft/Edge/User Data/Profile 2/History",
        "AppData/Local/Google/Chrome/User Data/Default/Cookies",
        "AppData/Roaming/Mozilla/Firefox/Profiles/ab.default/places.sqlite",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).touch()
    found = discover(tmp_path, platform="win32")
    assert [(f.browser, f.path.parent.name) for f in found] == [
        ("edge", "Default"), ("edge", "Profile 2"), ("firefox", "ab.default"),
    ]  # fmt: skip
    assert discover(tmp_path, platform="linux") == []
