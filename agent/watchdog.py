"""The agent polices itself, as osquery does: a small parent process runs the agent as a worker and restarts
it when it uses more memory than allowed, burns CPU above a limit for too long, or dies.

    python -m agent.watchdog                      # runs `python -m agent run` under supervision
    python -m agent.watchdog -- python -m agent run --simulate

Limits come from the agent settings (SAFEGUARD_AGENT_WATCHDOG_*).
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psutil

from agent.settings import AgentSettings, SettingsError

log = logging.getLogger(__name__)

HEALTHY_SECONDS = 300  # a worker that ran this long before failing restarts after the shortest delay


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    cpu_percent: float  # of one core
    cpu_seconds: float  # how long the CPU may stay above the limit
    check_seconds: float

    @classmethod
    def from_settings(cls, settings: AgentSettings) -> Limits:
        return cls(
            memory_bytes=settings.watchdog_memory_mb * 1024 * 1024,
            cpu_percent=settings.watchdog_cpu_percent,
            cpu_seconds=settings.watchdog_cpu_seconds,
            check_seconds=settings.watchdog_check_seconds,
        )


def worker_command() -> list[str]:
    """The agent itself: the same single-file binary when frozen by PyInstaller, else this interpreter."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "run"]
    return [sys.executable, "-m", "agent", "run"]


class Watchdog:
    """Runs ``command`` and keeps it within ``limits``; `restarts` records why each restart happened."""

    def __init__(
        self,
        command: list[str],
        limits: Limits,
        *,
        first_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
    ) -> None:
        if not command:
            raise ValueError("the watchdog needs a worker command")
        if limits.memory_bytes <= 0 or limits.cpu_percent <= 0 or limits.check_seconds <= 0:
            raise ValueError(f"watchdog limits must be positive: {limits}")
        self.command = command
        self.limits = limits
        self.restarts: list[str] = []
        self._first_backoff = first_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Supervise until `stop()`; then stop the worker too."""
        delay = self._first_backoff
        while not self._stop.is_set():
            started = time.monotonic()
            reason = self._supervise(subprocess.Popen(self.command))
            if reason is None:
                return
            self.restarts.append(reason)
            if time.monotonic() - started > HEALTHY_SECONDS:
                delay = self._first_backoff  # it ran well for a while: not a crash loop
            log.warning("restarting the agent worker (%s) in %.1f s", reason, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self._max_backoff)

    def _supervise(self, worker: subprocess.Popen[bytes]) -> str | None:
        """Watch one worker; return why it must be restarted, or None when the watchdog was stopped."""
        process = psutil.Process(worker.pid)
        process.cpu_percent()
        busy_since: float | None = None
        try:
            while not self._stop.wait(self.limits.check_seconds):
                if worker.poll() is not None:
                    return f"exited with code {worker.returncode}"
                try:
                    rss = process.memory_info().rss
                    cpu = process.cpu_percent()
                except psutil.NoSuchProcess:
                    continue  # exited between the poll and the measurement: seen on the next round
                if rss > self.limits.memory_bytes:
                    mb = 1024 * 1024
                    return f"memory {rss // mb} MB above {self.limits.memory_bytes // mb} MB"
                now = time.monotonic()
                busy_since = (busy_since or now) if cpu > self.limits.cpu_percent else None
                if busy_since is not None and now - busy_since >= self.limits.cpu_seconds:
                    return f"CPU above {self.limits.cpu_percent:g} % for {now - busy_since:.0f} s"
            return None
        finally:
            _end(worker)


def _end(worker: subprocess.Popen[bytes]) -> None:
    """Ask the worker to stop (it flushes its spool), then kill it if it does not within 10 seconds."""
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.watchdog", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="*", help="the worker command (default: the agent itself)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        limits = Limits.from_settings(AgentSettings())
    except SettingsError as error:
        print(f"bad setting: {error}", file=sys.stderr)
        return 2
    watchdog = Watchdog(args.command or worker_command(), limits)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: watchdog.stop())
    watchdog.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
