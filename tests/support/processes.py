"""Real console and agent processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from conftest import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from agent.capture.simulated import FINISHED
from console.events.models import Event
from console.schools import service as schools
from console.schools.models import Phase
from console.store import make_engine, make_sessionmaker, transaction
from console.store.migrate import upgrade


class ManagedProcess:
    """A child process with its own log file: stop it politely, kill it, read what it logged."""

    process: subprocess.Popen | None

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def launch(self, command: list[str], env: dict[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class ConsoleProcess(ManagedProcess):
    data_dir: Path
    database_url: str
    grpc_port: int = field(default_factory=free_port)
    enrol_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SAFEGUARD_DATA_DIR": str(self.data_dir),
            "SAFEGUARD_DATABASE_URL": self.database_url,
            "SAFEGUARD_GRPC_HOST": "127.0.0.1",
            "SAFEGUARD_GRPC_PORT": str(self.grpc_port),
            "SAFEGUARD_ENROL_PORT": str(self.enrol_port),
            "SAFEGUARD_WEB_PORT": str(self.web_port),
            "SAFEGUARD_STREAM_RECHECK_SECONDS": "1",
            **self.extra_env,
        }

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "pki" / "ca.pem"

    def start(self, timeout: float = 90) -> ConsoleProcess:
        self.launch([sys.executable, "-m", "console", "serve"], self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"console exited with {self.process.returncode}: {self.log()[-3000:]}")
            if self.ca_file.exists() and self._serving():
                return self
            time.sleep(0.2)
        raise TimeoutError(f"console did not start: {self.log()[-3000:]}")

    def _serving(self) -> bool:
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca_file.read_bytes())
        with grpc.secure_channel(f"localhost:{self.enrol_port}", credentials) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
            return reply.status == health_pb2.HealthCheckResponse.SERVING

    @property
    def log_path(self) -> Path:
        return self.data_dir / "console.log"


@dataclass
class AgentProcess(ManagedProcess):
    state_dir: Path
    console: ConsoleProcess
    token: str = ""
    args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self) -> AgentProcess:
        env = {
            **os.environ,
            "SAFEGUARD_AGENT_STATE_DIR": str(self.state_dir),
            "SAFEGUARD_AGENT_CA_FILE": str(self.console.ca_file),
            "SAFEGUARD_AGENT_ENROLMENT_TOKEN": self.token,
            "SAFEGUARD_AGENT_STREAM_PORT": str(self.console.grpc_port),
            "SAFEGUARD_AGENT_ENROL_PORT": str(self.console.enrol_port),
            "SAFEGUARD_AGENT_BACKOFF_MAX_SECONDS": "1",
            **self.extra_env,
        }
        self.launch([sys.executable, "-m", "agent", "run", "--simulate", *self.args], env)
        return self

    @property
    def log_path(self) -> Path:
        return self.state_dir / "agent.log"

    def captured(self, count: int) -> bool:
        """The simulated capture logged that it emitted its `count` events. Having `count` seqs is not the same:
        one of them is the agent's start-up status, so the last simulated event may still be to come."""
        return f"{FINISHED}: {count} events" in self.log()

    def wait_enrolled(self, timeout: float = 60) -> AgentProcess:
        wait_for(lambda: (self.state_dir / "device_id").exists(), timeout=timeout, what=f"enrolment: {self.log()[-2000:]}")
        return self

    @property
    def device_id(self) -> str:
        return (self.state_dir / "device_id").read_text().strip()

    def _spool_query(self, sql: str):
        path = self.state_dir / "spool.db"
        if not path.exists():
            return None
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return db.execute(sql).fetchone()
        except sqlite3.OperationalError:  # created but its tables not yet
            return None
        finally:
            db.close()

    def produced_seqs(self) -> set[int]:
        """Every seq this agent has assigned so far (its spool's next_seq - 1 is the last)."""
        row = self._spool_query("SELECT value FROM meta WHERE key = 'next_seq'")
        return set(range(1, row[0])) if row else set()

    def spool_depth(self) -> int:
        row = self._spool_query("SELECT COUNT(*) FROM events")
        return row[0] if row else 0



def prepare_school(database_url: str, *, uses: int = 5, days: int = 1, name: str = "Test School") -> str:
    """Migrate the database, create a school and return an enrolment token for it."""
    engine = make_engine(database_url)
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        school = schools.get_by_name(session=session, name=name) or schools.create(
            session=session, name=name, phase=Phase.secondary
        )
        token = schools.create_enrolment_token(session=session, school=school, days=days, max_uses=uses)
    engine.dispose()
    return token


def stored_seqs(database_url: str, device_id: str) -> list[int]:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        seqs = list(session.scalars(select(Event.seq).where(Event.device_id == device_id).order_by(Event.seq)))
    engine.dispose()
    return seqs


def count_rows(database_url: str, model, *conditions) -> int:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        count = session.scalar(select(func.count()).select_from(model).where(*conditions))
    engine.dispose()
    return count


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
