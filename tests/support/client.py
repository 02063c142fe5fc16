"""A hand-driven agent connection for tests that send exactly the bytes they mean to."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import grpc
import uuid6
from google.protobuf.timestamp_pb2 import Timestamp

from agent import identity as device_identity
from agent.identity import DeviceIdentity
from agent.settings import AgentSettings
from safeguard_proto.v1 import agent_pb2 as pb
from safeguard_proto.v1 import agent_pb2_grpc as pb_grpc
from support.processes import ConsoleProcess


def enrol(console: ConsoleProcess, token: str, state_dir: Path) -> DeviceIdentity:
    settings = AgentSettings(
        state_dir=state_dir,
        ca_file=console.ca_file,
        enrolment_token=token,
        stream_port=console.grpc_port,
        enrol_port=console.enrol_port,
    )
    identity, _ = device_identity.enrol(settings)
    return identity


def text_event(seq: int, text: str = "hello", *, time: datetime | None = None) -> pb.Event:
    stamp = Timestamp()
    stamp.FromDatetime(time or datetime.now(timezone.utc))
    return pb.Event(
        event_id=str(uuid6.uuid7()), seq=seq, time=stamp, user="pupil", typed_text=pb.TypedText(text=text, application="notepad")
    )


class Stream:
    """One Stream call; `send` a message, `receive` the console's next one (raises grpc.RpcError on a status)."""

    def __init__(self, console: ConsoleProcess, identity: DeviceIdentity, *, boot_id: str | None = None,
                 hello: bool = True, options: list | None = None) -> None:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=identity.ca_path.read_bytes(),
            private_key=identity.key_path.read_bytes(),
            certificate_chain=identity.certificate_path.read_bytes(),
        )
        self.channel = grpc.secure_channel(f"localhost:{console.grpc_port}", credentials, options=options or [])
        self._outgoing: queue.Queue[pb.AgentMessage | None] = queue.Queue()
        self._responses: Iterator[pb.ConsoleMessage] = pb_grpc.AgentServiceStub(self.channel).Stream(
            iter(self._outgoing.get, None), timeout=30
        )
        if hello:
            self.send(pb.AgentMessage(hello=pb.Hello(agent_version="test", boot_id=boot_id or str(uuid.uuid4()))))

    def send(self, message: pb.AgentMessage) -> None:
        self._outgoing.put(message)

    def send_batch(self, batch_id: int, events: list[pb.Event]) -> None:
        self.send(pb.AgentMessage(batch=pb.EventBatch(batch_id=batch_id, events=events)))

    def receive(self, kind: str = "ack") -> pb.ConsoleMessage:
        """The next message of this kind (policy pushes on connect are skipped when asking for an ack)."""
        for message in self._responses:
            if message.WhichOneof("body") == kind:
                return message
        raise AssertionError(f"the stream ended without a {kind}")

    def close(self) -> None:
        self._outgoing.put(None)
        self.channel.close()
