"""Real processes and the exactly-once check shared by the topology and fault-injection tests."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import free_port, postgres_schema, terminate_connections
from sqlalchemy import select
from support.processes import AgentProcess, ConsoleProcess, ManagedProcess, wait_for

from console.alerts.models import Alert
from console.detect import ScanItem
from console.detection import build_detector
from console.events.models import Event
from console.settings import Settings
from console.store import make_engine, make_sessionmaker

NATS_SERVER = "/usr/sbin/nats-server"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def cut_database_connections(postgres_url: str) -> int:
    """Terminate every server connection of this module's processes; returns how many."""
    return terminate_connections(postgres_url.rsplit("application_name=", 1)[1])


@dataclass
class NatsServer:
    """A JetStream server of the test's own on a free port, so that it can be cut and restarted."""

    store_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.store_dir / "nats.log", "ab")
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)],
            stdout=log,
            stderr=log,
        )
        wait_for(self._listening, timeout=10, what="nats-server to listen")
        return self

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


@dataclass
class WorkerProcess(ManagedProcess):
    data_dir: Path
    database_url: str
    nats_url: str
    name: str = "worker"
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "SAFEGUARD_DATA_DIR": str(self.data_dir),
            "SAFEGUARD_DATABASE_URL": self.database_url,
            "SAFEGUARD_BUS": "nats",
            "SAFEGUARD_NATS_URL": self.nats_url,
            "SAFEGUARD_NATS_ACK_WAIT_SECONDS": "2",
            **self.extra_env,
        }
        self.launch([sys.executable, "-m", "console", "worker"], env)
        wait_for(lambda: "consuming" in self.log() or self.process.poll() is not None, timeout=30, what=self.name)
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {self.log()[-3000:]}")
        return self



def nats_console(data_dir: Path, database_url: str, nats_url: str, **ports: int) -> ConsoleProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    return ConsoleProcess(
        data_dir=data_dir,
        database_url=database_url,
        extra_env={"SAFEGUARD_BUS": "nats", "SAFEGUARD_NATS_URL": nats_url, "SAFEGUARD_GRPC_REUSE_PORT": "1"},
        **ports,
    )


def simulated_agents(root: Path, console: ConsoleProcess, token: str, *, count: int, rate: float, n: int):
    return [
        AgentProcess(
            root / f"agent{i}",
            console,
            token=token,
            args=["--rate", str(rate), "--count", str(count), "--seed", str(i), "--offset", str(i * 3), "--user", f"pupil{i}"],
        )
        for i in range(n)
    ]


def wait_until_delivered(agents: list[AgentProcess], *, count: int, timeout: float) -> None:
    """The agents' simulated captures emitted their `count` events and the console acked every event (the spools
    are empty)."""

    def delivered() -> bool:
        return all(agent.captured(count) and agent.spool_depth() == 0 for agent in agents)

    try:
        wait_for(delivered, timeout=timeout, interval=0.5, what="every agent's spool to drain")
    except TimeoutError:
        report = [(a.state_dir.name, len(a.produced_seqs()), a.spool_depth()) for a in agents]
        raise TimeoutError(f"not delivered (agent, produced, unsent): {report}\n{agents[0].log()[-2000:]}") from None


def acked_seqs(agent: AgentProcess) -> set[int]:
    """What the console acked to the agent: what it produced and no longer holds in its spool."""
    with sqlite3.connect(f"file:{agent.state_dir / 'spool.db'}?mode=ro", uri=True) as db:
        unsent = {row[0] for row in db.execute("SELECT seq FROM events")}
    return agent.produced_seqs() - unsent


def unstored(database_url: str, agents: list[AgentProcess]) -> dict[str, list[int]]:
    """Each agent's acked seqs that are not stored (yet), by device."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(select(Event.device_id, Event.seq).where(Event.device_id.in_([a.device_id for a in agents])))
            stored: dict[str, set[int]] = {}
            for device_id, seq in rows:
                stored.setdefault(device_id, set()).add(seq)
    finally:
        engine.dispose()
    missing = {agent.device_id: sorted(acked_seqs(agent) - stored.get(agent.device_id, set())) for agent in agents}
    return {device_id: seqs for device_id, seqs in missing.items() if seqs}


def _scan_items(event: Event, phase: str) -> list[ScanItem]:
    """What detection must have scanned for a stored event (independently of the ingest code)."""
    detail = event.detail
    if event.kind == "typed_text":
        texts = [event.text, detail.get("deleted_text", "")]
        return [ScanItem(text=t, source="text", phase=phase, application=detail["application"]) for t in texts if t]
    if event.kind == "window_focus" and event.text:
        return [ScanItem(text=event.text, source="window", phase=phase, application=detail["process_name"])]
    if event.kind == "web_visit":
        return [ScanItem(text=event.text, source="url", phase=phase, application=detail["browser"], url=detail["url"])]
    return []


def assert_exactly_once(database_url: str, agents: list[AgentProcess], *, phase: str = "secondary") -> None:
    """Every event an agent produced and had acked is stored, once, and nothing else is; each alert was raised
    once."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            events = list(session.scalars(select(Event)))
            alerts = list(session.execute(select(Alert.device_id, Alert.event_seq, Alert.category)))
    finally:
        engine.dispose()
    stored: dict[str, list[int]] = {}
    for event in events:
        stored.setdefault(event.device_id, []).append(event.seq)
    total = 0
    for agent in agents:
        got = stored.get(agent.device_id, [])
        assert len(got) == len(set(got)), f"{agent.device_id}: an event stored twice"
        # An event still in the spool may be stored already: the agent stopped before the console's ack reached it
        # (it sends it again when it next runs, and the console skips it). An acked one must be stored.
        missing, extra = sorted(acked_seqs(agent) - set(got)), sorted(set(got) - agent.produced_seqs())
        assert not missing and not extra, f"{agent.device_id}: missing {missing[:20]}, unexpected {extra[:20]}"
        total += len(got)
    assert total == len(events), "events stored for devices that are not in this test"

    raised = Counter(alerts)
    twice = [key for key, n in raised.items() if n > 1]
    assert not twice, f"alerts raised more than once: {twice[:10]}"
    scannable = [(event, item) for event in events for item in _scan_items(event, phase)]
    results = build_detector(Settings()).scan([item for _, item in scannable])  # as the console detects
    due = {
        (event.device_id, event.seq, finding.category)
        for (event, _), result in zip(scannable, results)
        for finding in result.findings
    }
    assert due, "the simulated activity should raise alerts"
    assert set(raised) == due, f"alerts missing {sorted(due - set(raised))[:10]}, unexpected {sorted(set(raised) - due)[:10]}"
