"""The watchdog restarts a real worker process that goes over its memory or CPU limit, or dies."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from agent.watchdog import Limits, Watchdog, main

HUNGRY = "import time; ballast = bytearray(80 * 1024 * 1024); ballast[::4096] = b'x' * 20480; time.sleep(60)"
BUSY = "while True: pass"
QUIET = "import time; time.sleep(60)"
LIMITS = Limits(memory_bytes=40 * 1024 * 1024, cpu_percent=50, cpu_seconds=1.0, check_seconds=0.2)


def workers_of(watchdog: Watchdog) -> list[psutil.Process]:
    workers = []
    for child in psutil.Process().children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and child.cmdline()[-1:] == watchdog.command[-1:]:
                workers.append(child)
        except psutil.NoSuchProcess:
            continue  # a dying worker that went away while we looked
    return workers


@pytest.fixture
def supervise() -> Iterator:
    running: list[tuple[Watchdog, threading.Thread]] = []

    def start(code: str, limits: Limits = LIMITS) -> Watchdog:
        watchdog = Watchdog(
            [sys.executable, "-c", code], limits, first_backoff_seconds=0.05, max_backoff_seconds=0.1
        )
        thread = threading.Thread(target=watchdog.run)
        thread.start()
        running.append((watchdog, thread))
        return watchdog

    yield start
    for watchdog, thread in running:
        watchdog.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert workers_of(watchdog) == []  # stopping the watchdog stops its worker


def wait_for_restarts(watchdog: Watchdog, count: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(watchdog.restarts) < count:
        assert time.monotonic() < deadline, f"only {watchdog.restarts} restarts"
        time.sleep(0.05)
    return watchdog.restarts


def test_a_worker_over_its_memory_limit_is_restarted(supervise) -> None:
    watchdog = supervise(HUNGRY)
    reasons = wait_for_restarts(watchdog, 2)
    assert all(reason.startswith("memory ") and reason.endswith("above 40 MB") for reason in reasons[:2])


def test_a_worker_busy_above_its_cpu_limit_for_too_long_is_restarted(supervise) -> None:
    # A low limit: on a loaded machine a busy loop may get only a small share of a core.
    watchdog = supervise(
        BUSY, Limits(memory_bytes=1 << 30, cpu_percent=3, cpu_seconds=1.0, check_seconds=0.2)
    )
    assert wait_for_restarts(watchdog, 1)[0].startswith("CPU above 3 % for ")


def test_a_worker_that_dies_is_restarted_and_a_quiet_one_is_left_alone(supervise) -> None:
    dying = supervise("raise SystemExit(3)")
    assert wait_for_restarts(dying, 2)[:2] == ["exited with code 3", "exited with code 3"]

    quiet = supervise(QUIET)
    deadline = time.monotonic() + 10
    while not workers_of(quiet):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = workers_of(quiet)[0].pid
    time.sleep(1.5)  # several checks pass
    assert quiet.restarts == [] and [p.pid for p in workers_of(quiet)] == [pid]


@pytest.mark.parametrize(
    ("command", "limits", "error"),
    [
        ([], LIMITS, "needs a worker command"),
        (
            ["true"],
            Limits(memory_bytes=0, cpu_percent=10, cpu_seconds=1, check_seconds=1),
            "must be positive",
        ),
        (
            ["true"],
            Limits(memory_bytes=1, cpu_percent=10, cpu_seconds=1, check_seconds=0),
            "must be positive",
        ),
    ],
)
def test_bad_settings_are_refused(command: list[str], limits: Limits, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Watchdog(command, limits)


def test_command_line_refuses_bad_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARD_AGENT_WATCHDOG_MEMORY_MB", "-5")
    with pytest.raises(ValueError, match="must be positive"):
        main(["true"])
