"""The embedded console (one process, in-process bus) under faults: SIGKILL of the console
mid-stream, an agent offline for an hour of activity, and (on PostgreSQL) the database
connections cut mid-stream. Each ends with every produced event stored once and every alert
raised once."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from scale_harness import (
    assert_exactly_once,
    cut_database_connections,
    postgres_url,  # noqa: F401  (fixture)
    simulated_agents,
    wait_until_delivered,
)
from support.processes import AgentProcess, ConsoleProcess, prepare_school, wait_for

COUNT, RATE, AGENTS = 600, 100, 3  # each agent streams for about six seconds
HOUR = 1200  # a busy pupil's hour: one event every three seconds
_STORE_FAILED = re.compile(r"storing \d+ batches failed")  # what the bus logs when a set's transaction fails


@dataclass
class Embedded:
    root: Path
    database_url: str
    console: ConsoleProcess
    token: str
    agents: list[AgentProcess] = field(default_factory=list)

    def start_agents(self, name: str, *, count: int = COUNT, rate: float = RATE, n: int = AGENTS) -> list[AgentProcess]:
        agents = [a.start() for a in simulated_agents(self.root / name, self.console, self.token, count=count, rate=rate, n=n)]
        self.agents.extend(agents)
        return agents

    def check(self, agents: list[AgentProcess], *, count: int = COUNT) -> None:
        wait_until_delivered(agents, count=count, timeout=120)
        for agent in agents:
            agent.stop()
        assert_exactly_once(self.database_url, self.agents)


def _streaming(agents: list[AgentProcess]) -> bool:
    return all((a.state_dir / "spool.db").exists() and len(a.produced_seqs()) > COUNT // 4 for a in agents)


def _embedded(root: Path, database_url: str) -> Iterator[Embedded]:
    token = prepare_school(database_url, uses=100)
    root.mkdir(parents=True, exist_ok=True)
    console = ConsoleProcess(data_dir=root / "console", database_url=database_url)
    console.data_dir.mkdir()
    embedded = Embedded(root, database_url, console.start(), token)
    try:
        yield embedded
    finally:
        for agent in embedded.agents:
            agent.stop()
        console.stop()


@pytest.fixture(scope="module")
def sqlite_console(tmp_path_factory) -> Iterator[Embedded]:
    root = tmp_path_factory.mktemp("embedded")
    yield from _embedded(root, f"sqlite:///{root / 'safeguard.db'}")


def test_sigkill_of_the_console_mid_stream(sqlite_console: Embedded):
    agents = sqlite_console.start_agents("console-killed")
    wait_for(lambda: _streaming(agents), timeout=60, what="agents streaming")
    sqlite_console.console.kill()
    time.sleep(1)
    sqlite_console.console.start()
    sqlite_console.check(agents)


def test_agent_offline_for_an_hour_of_activity_catches_up(sqlite_console: Embedded):
    console = sqlite_console.console
    [agent] = sqlite_console.start_agents("offline", count=1, n=1)
    sqlite_console.check([agent], count=1)  # enrolled and heard from
    assert console.stop() == 0, "SIGTERM drains and exits cleanly"
    before = len(agent.produced_seqs())
    agent.args[agent.args.index("--count") + 1] = str(HOUR)
    agent.args[agent.args.index("--rate") + 1] = "0"  # as fast as it can: the hour passes in seconds
    agent.start()
    wait_for(lambda: len(agent.produced_seqs()) >= before + HOUR, timeout=60, what="an hour of activity")
    assert agent.spool_depth() >= HOUR, "the hour is spooled while the console is down"
    console.start()
    sqlite_console.check([agent], count=HOUR)


@pytest.mark.postgres
def test_database_connections_cut_mid_stream(tmp_path, postgres_url):  # noqa: F811
    for embedded in _embedded(tmp_path, postgres_url):
        count = 3 * COUNT  # streaming for about eighteen seconds: long enough for a cut to meet a write
        agents = embedded.start_agents("database-cut", count=count)
        wait_for(lambda: _streaming(agents), timeout=60, what="agents streaming")
        # An idle connection that was cut is replaced unnoticed (pre-ping); what matters is a cut in the middle of
        # a set's transaction, so cut until one met a write (its failure is logged), as long as the agents stream.
        cut = 0
        while not _STORE_FAILED.search(embedded.console.log()) and not all(
            len(a.produced_seqs()) >= count for a in agents
        ):
            cut += cut_database_connections(postgres_url)
            time.sleep(0.1)
        assert cut > 0, "the console's database connections should have been cut"
        assert _STORE_FAILED.search(embedded.console.log()), "no cut met a write in flight: nothing was tested"
        embedded.check(agents, count=count)
        assert httpx.get(f"http://127.0.0.1:{embedded.console.web_port}/readyz").status_code == 200
