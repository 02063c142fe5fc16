"""The agent's transport (grpclib) against a grpcio server with the console's TLS and keepalive policy:
enrolment, the mTLS stream, the console's statuses, hostname checks; and the agent process never loads grpcio."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from agent import identity as device_identity
from agent.identity import DeviceIdentity, EnrolmentFailed
from agent.sender import Sender
from agent.settings import AgentSettings
from agent.spool import Spool
from console.identity.ca import CertificateAuthority
from safeguard_proto.v1 import agent_pb2 as pb

TOKEN = "sgt_good"
POLICY = pb.Policy(version=7, capture_text=True, heartbeat_seconds=60)


class StandInConsole:
    """Enroll (TOKEN only) and Stream as the console has them: server TLS on one port, mTLS on the other, the
    same keepalive policy; acks each batch, refuses one of more than `max_batch` events with RESOURCE_EXHAUSTED,
    pushes POLICY and a command on every stream."""

    def __init__(self, pki: Path, *, names: tuple[str, ...] = ("localhost", "127.0.0.1"), host: str = "127.0.0.1",
                 max_batch: int = 1000) -> None:
        self.ca = CertificateAuthority.load_or_create(pki)
        self.ca_file = pki / "ca.pem"
        self._key_pem, self._cert_pem = self.ca.server_credentials(pki, list(names))
        self._host = host
        self.max_batch = max_batch
        self.stored: list[int] = []
        self.streams = 0
        self.command_results: list[pb.CommandResult] = []
        self.server = grpc.aio.server(
            options=[
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_timeout_ms", 10_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ]
        )
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("safeguard.v1.AgentService", {
            "Enroll": grpc.unary_unary_rpc_method_handler(
                self._enroll, pb.EnrollRequest.FromString, pb.EnrollResponse.SerializeToString),
            "Stream": grpc.stream_stream_rpc_method_handler(
                self._stream, pb.AgentMessage.FromString, pb.ConsoleMessage.SerializeToString),
        }),))  # fmt: skip
        address = f"[{host}]" if ":" in host else host
        mutual = grpc.ssl_server_credentials(
            [(self._key_pem, self._cert_pem)], root_certificates=self.ca.certificate_pem, require_client_auth=True
        )
        self.stream_port = self.server.add_secure_port(f"{address}:0", mutual)
        self.enrol_port = self.server.add_secure_port(
            f"{address}:0", grpc.ssl_server_credentials([(self._key_pem, self._cert_pem)])
        )

    async def _enroll(self, request: pb.EnrollRequest, context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        if request.enrolment_token != TOKEN:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "enrolment refused: unknown token")
        issued = self.ca.sign_device(request.csr_pem, school_id=1, days=1)
        return pb.EnrollResponse(device_id=issued.device_id, certificate_pem=issued.certificate_pem,
                                 ca_certificate_pem=self.ca.certificate_pem, policy=POLICY)

    async def _stream(self, requests: AsyncIterator[pb.AgentMessage], context: grpc.aio.ServicerContext
                      ) -> AsyncIterator[pb.ConsoleMessage]:
        self.streams += 1
        yield pb.ConsoleMessage(policy=POLICY)
        yield pb.ConsoleMessage(command=pb.Command(command_id=f"c{self.streams}", take_screenshot=pb.TakeScreenshot()))
        async for message in requests:
            body = message.WhichOneof("body")
            if body == "command_result":
                self.command_results.append(message.command_result)
            elif body == "batch":
                events = message.batch.events
                if len(events) > self.max_batch:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                        f"batch has {len(events)} events; the limit is {self.max_batch}")
                self.stored.extend(event.seq for event in events)
                yield pb.ConsoleMessage(ack=pb.Ack(batch_id=message.batch.batch_id, acked_through_seq=events[-1].seq))

    def settings(self, state_dir: Path, **values: object) -> AgentSettings:
        return AgentSettings(state_dir=state_dir, ca_file=self.ca_file, enrolment_token=TOKEN,
                             stream_port=self.stream_port, enrol_port=self.enrol_port,
                             backoff_initial_seconds=0.05, backoff_max_seconds=0.2, **values)  # fmt: skip


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[StandInConsole]:
    standin = StandInConsole(tmp_path / "pki")
    await standin.server.start()
    yield standin
    await standin.server.stop(grace=None)


async def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


class Streaming:
    """A Sender over a spool of `count` events, run until stopped."""

    def __init__(self, settings: AgentSettings, identity: DeviceIdentity, count: int) -> None:
        self.spool = Spool(settings.state_dir / "spool.db", max_bytes=10**7, max_age_seconds=3600)
        for index in range(count):
            self.spool.put(pb.Event(event_id=f"e{index}", typed_text=pb.TypedText(text=f"typed {index}")))
        self.policies: list[pb.Policy] = []
        self.sender = Sender(
            settings=settings, identity=identity, spool=self.spool, policy_version=lambda: 0,
            on_policy=self.policies.append,
            on_command=lambda command: pb.CommandResult(command_id=command.command_id, ok=True),
        )  # fmt: skip
        self.stop = asyncio.Event()

    async def __aenter__(self) -> Streaming:
        self.task = asyncio.create_task(self.sender.run(self.stop))
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop.set()
        async with asyncio.timeout(10):
            await self.task
        self.spool.close()


async def test_enrols_and_streams_over_mtls_until_every_event_is_acked(console: StandInConsole, tmp_path: Path) -> None:
    settings = console.settings(tmp_path / "agent")
    identity, policy = await asyncio.to_thread(device_identity.enrol, settings)
    assert policy == POLICY and device_identity.load(settings.state_dir) == identity
    async with Streaming(settings, identity, count=120) as streaming:
        await _wait_for(lambda: streaming.spool.stats().depth == 0, "every event acked and deleted")
        await _wait_for(lambda: len(console.command_results) == 1, "the command's result")
        assert streaming.sender.state.connected and streaming.sender.state.acked_through_seq == 120
    assert sorted(console.stored) == list(range(1, 121)) and console.streams == 1
    assert streaming.policies == [POLICY]
    assert console.command_results[0].command_id == "c1" and console.command_results[0].ok


async def test_resource_exhausted_halves_the_batch_until_the_console_takes_it(
    console: StandInConsole, tmp_path: Path
) -> None:
    console.max_batch = 30
    settings = console.settings(tmp_path / "agent", batch_max_events=100)
    identity, _ = await asyncio.to_thread(device_identity.enrol, settings)
    async with Streaming(settings, identity, count=200) as streaming:
        await _wait_for(lambda: streaming.spool.stats().depth == 0, "every event acked after halving")
    state = streaming.sender.state
    assert state.batch_size == 25, "100 -> 50 -> 25: halved once per refusal, each refusal a new stream"
    assert state.last_error == "RESOURCE_EXHAUSTED: batch has 50 events; the limit is 30"
    assert console.streams == 3 and sorted(set(console.stored)) == list(range(1, 201))


async def test_a_console_whose_certificate_does_not_name_the_host_is_refused(tmp_path: Path) -> None:
    console = StandInConsole(tmp_path / "pki", names=("console.school.example",))
    await console.server.start()
    try:
        with pytest.raises(EnrolmentFailed, match=r"^UNAVAILABLE: .*CERTIFICATE_VERIFY_FAILED.*localhost"):
            await asyncio.to_thread(device_identity.enrol, console.settings(tmp_path / "agent"))
    finally:
        await console.server.stop(grace=None)


async def test_streams_to_an_ipv6_literal_named_in_the_certificate(tmp_path: Path) -> None:
    console = StandInConsole(tmp_path / "pki", names=("localhost", "::1"), host="::1")
    await console.server.start()
    try:
        settings = console.settings(tmp_path / "agent", console_host="[::1]")  # as grpcio took it
        identity, _ = await asyncio.to_thread(device_identity.enrol, settings)
        async with Streaming(settings, identity, count=5) as streaming:
            await _wait_for(lambda: streaming.spool.stats().depth == 0, "events acked over IPv6")
    finally:
        await console.server.stop(grace=None)


def test_enrolment_refused_or_unanswered_says_why(tmp_path: Path) -> None:
    CertificateAuthority.load_or_create(tmp_path / "pki")  # writes the CA certificate the agent is given
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = AgentSettings(state_dir=tmp_path / "agent", ca_file=tmp_path / "pki" / "ca.pem",
                                 enrolment_token=TOKEN, enrol_port=silent.getsockname()[1])  # fmt: skip
        with pytest.raises(EnrolmentFailed, match="^DEADLINE_EXCEEDED: "):
            device_identity.enrol(settings, timeout=0.5)
    with pytest.raises(EnrolmentFailed, match="^UNAVAILABLE: .*[Cc]onnect"):
        device_identity.enrol(settings, timeout=5)  # nothing listens there now
    assert device_identity.load(settings.state_dir) is None


async def test_a_bad_token_is_refused_with_the_status(console: StandInConsole, tmp_path: Path) -> None:
    settings = console.settings(tmp_path / "agent")
    settings.enrolment_token = "sgt_wrong"
    with pytest.raises(EnrolmentFailed) as refused:
        await asyncio.to_thread(device_identity.enrol, settings)
    assert str(refused.value) == "PERMISSION_DENIED: enrolment refused: unknown token"


async def test_the_agent_process_never_loads_grpcio(console: StandInConsole, tmp_path: Path) -> None:
    """`python -m agent run` enrols, streams and stops; -X importtime lists every module it imported."""
    settings = console.settings(tmp_path / "agent")
    env = {
        **{key: value for key, value in os.environ.items() if not key.upper().startswith("SAFEGUARD_AGENT_")},
        "SAFEGUARD_AGENT_STATE_DIR": str(settings.state_dir),
        "SAFEGUARD_AGENT_CA_FILE": str(console.ca_file),
        "SAFEGUARD_AGENT_ENROLMENT_TOKEN": TOKEN,
        "SAFEGUARD_AGENT_STREAM_PORT": str(console.stream_port),
        "SAFEGUARD_AGENT_ENROL_PORT": str(console.enrol_port),
    }
    log = tmp_path / "agent.log"
    with open(log, "wb") as output:
        agent = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "agent", "run", "--simulate", "--count", "20", "--rate", "50"],
            env=env, stdout=output, stderr=output,
        )  # fmt: skip
        try:
            await _wait_for(lambda: len(console.stored) >= 20 and console.command_results != [], "the agent's events",
                            timeout=60)  # fmt: skip
        finally:
            agent.terminate()
            returncode = await asyncio.to_thread(agent.wait, 30)
    assert returncode == 0, log.read_text()
    imported = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", log.read_text(), re.MULTILINE)
    assert "grpclib.client" in imported and "agent.sender" in imported
    assert [name for name in imported if name == "grpc" or name.startswith(("grpc.", "grpc_"))] == []
