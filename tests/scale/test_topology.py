"""The county topology under faults: PostgreSQL, NATS JetStream, two ingest consoles sharing the
agent port (SO_REUSEPORT) and two detection workers. The processes start once for the module;
each test streams fresh simulated agents through them, injects its fault mid-stream and ends
with every event the agents produced stored once and every alert raised once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from scale_harness import (
    NatsServer,
    WorkerProcess,
    acked_seqs,
    assert_exactly_once,
    cut_database_connections,
    nats_console,
    postgres_url,  # noqa: F401  (fixture)
    simulated_agents,
    unstored,
    wait_until_delivered,
)
from support.processes import AgentProcess, ConsoleProcess, prepare_school, wait_for

from console.ingest.nats_bus import STREAM, SUBJECT_PREFIX, subject_for

pytestmark = [pytest.mark.postgres, pytest.mark.nats]

COUNT, RATE, AGENTS = 600, 100, 3  # each agent streams for about six seconds


@dataclass
class Topology:
    root: Path
    database_url: str
    token: str
    nats: NatsServer
    consoles: list[ConsoleProcess]
    workers: list[WorkerProcess]
    agents: list[AgentProcess] = field(default_factory=list)

    def stream(self, name: str, during: Callable[[], None]) -> None:
        """Start fresh agents, run the fault once they are streaming, then check exactly-once."""
        agents = [a.start() for a in simulated_agents(self.root / name, self.consoles[0], self.token, count=COUNT, rate=RATE, n=AGENTS)]
        self.agents.extend(agents)
        wait_for(lambda: all(len(a.produced_seqs()) > COUNT // 4 for a in agents if (a.state_dir / "spool.db").exists())
                 and all((a.state_dir / "spool.db").exists() for a in agents), timeout=60, what="agents streaming")
        during()
        wait_until_delivered(agents, count=COUNT, timeout=120)
        for agent in agents:
            agent.stop()
        try:
            wait_for(lambda: not unstored(self.database_url, self.agents), timeout=60, what="workers to store everything")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{self.backlog()}") from None
        assert_exactly_once(self.database_url, self.agents)

    def backlog(self) -> str:
        """Where the acked events not stored are: each device's missing seqs, the partitions' consumers and the
        workers' last log lines, for the message of a failure that cannot be reproduced at will."""
        lines = [
            f"device {device_id}: {len(seqs)} acked seqs not stored, first {seqs[:10]}"
            for device_id, seqs in unstored(self.database_url, self.agents).items()
        ]
        lines.extend(asyncio.run(_consumer_states(self.nats.url)))
        for worker in self.workers:
            lines.append(f"--- {worker.name}, last lines:")
            lines.extend(worker.log().splitlines()[-15:])
        return "\n".join(lines)


@pytest.fixture(scope="module")
def topology(tmp_path_factory, postgres_url) -> Iterator[Topology]:  # noqa: F811
    root = tmp_path_factory.mktemp("topology")
    server = NatsServer(root / "nats").start()
    token = prepare_school(postgres_url, uses=100)
    first = nats_console(root / "console", postgres_url, server.url).start()
    second = nats_console(root / "console", postgres_url, server.url, grpc_port=first.grpc_port, enrol_port=first.enrol_port)
    second.start()
    workers = [WorkerProcess(root, postgres_url, server.url, name=f"worker{i}").start() for i in range(2)]
    topology = Topology(root, postgres_url, token, server, [first, second], workers)
    try:
        for console in topology.consoles:
            wait_for(lambda: httpx.get(f"http://127.0.0.1:{console.web_port}/readyz").status_code == 200,
                     timeout=60, what="both consoles ready")
        yield topology
    finally:
        for agent in topology.agents:
            agent.stop()
        codes = [process.stop() for process in (*topology.consoles, *topology.workers)]
        server.stop()
    assert codes == [0] * 4, "every process shuts down cleanly on SIGTERM"


async def _consumer_states(url: str) -> list[str]:
    client = await nats.connect(url)
    jetstream = client.jetstream()
    states = []
    for info in await jetstream.consumers_info(STREAM):
        states.append(f"consumer {info.name}: pending {info.num_pending}, ack pending {info.num_ack_pending}, "
                      f"redelivered {info.num_redelivered}")
    await client.close()
    return states


async def _publish_garbage(url: str) -> None:
    client = await nats.connect(url)
    jetstream = client.jetstream()
    await jetstream.publish(SUBJECT_PREFIX + "0.not-a-device", b"\xff\xfe not protobuf", stream=STREAM)
    await jetstream.publish(subject_for("forged"), b"", stream=STREAM, headers={"Sg-Device": "other"})
    await client.close()


def _metric(url: str, name: str) -> float:
    text = httpx.get(url).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_two_consoles_and_two_workers_store_everything_once(topology: Topology):
    topology.stream("steady", lambda: asyncio.run(_publish_garbage(topology.nats.url)))
    received = sum(
        _metric(f"http://127.0.0.1:{c.web_port}/metrics", "safeguard_events_received_total") for c in topology.consoles
    )
    assert received >= sum(len(acked_seqs(a)) for a in topology.agents)
    logs = "".join(worker.log() for worker in topology.workers)
    assert "message on 'safeguard.batches.0.not-a-device' names device ''" in logs
    assert f"message on '{subject_for('forged')}' names device 'other'" in logs


def test_sigkill_of_a_detection_worker_mid_stream(topology: Topology):
    def kill_and_restart() -> None:
        topology.workers[0].kill()
        time.sleep(1)
        topology.workers[0].start()

    topology.stream("worker-killed", kill_and_restart)


def test_nats_server_cut_mid_stream(topology: Topology):
    def restart_nats() -> None:
        topology.nats.stop()
        time.sleep(2)
        topology.nats.start()

    topology.stream("nats-cut", restart_nats)
    logs = "".join(c.log() for c in topology.consoles[:1]) + "".join(w.log() for w in topology.workers)
    assert "reconnected to NATS" in logs


def test_database_connections_cut_mid_stream(topology: Topology):
    cut: list[int] = []

    def cut_three_times() -> None:
        for _ in range(3):
            cut.append(cut_database_connections(topology.database_url))
            time.sleep(0.7)

    topology.stream("database-cut", cut_three_times)
    assert sum(cut) > 0, "the processes' database connections should have been cut"
