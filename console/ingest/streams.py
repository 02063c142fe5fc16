"""The live agent streams of this process: clone detection and policy pushes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from safeguard_proto.v1 import agent_pb2 as pb


@dataclass
class LiveStream:
    device_id: str
    school_id: int
    boot_id: str
    peer: str
    outgoing: asyncio.Queue[pb.ConsoleMessage | None] = field(default_factory=asyncio.Queue)  # None: look at the flags
    superseded: asyncio.Event = field(default_factory=asyncio.Event)

    def supersede(self) -> None:
        """Close this stream (a newer one took its place, or the device was disconnected)."""
        self.superseded.set()
        self.wake()

    def wake(self) -> None:
        self.outgoing.put_nowait(None)


class CloneSuspected(Exception):
    def __init__(self, existing: LiveStream) -> None:
        super().__init__(
            f"device {existing.device_id} is already streaming from {existing.peer} with another agent "
            f"instance (boot {existing.boot_id}); two machines share one certificate (a cloned machine?)"
        )
        self.existing = existing


class LiveStreams:
    def __init__(self) -> None:
        self._by_device: dict[str, LiveStream] = {}

    def __len__(self) -> int:
        return len(self._by_device)

    def open(self, stream: LiveStream) -> None:
        existing = self._by_device.get(stream.device_id)
        if existing is not None:
            if existing.boot_id != stream.boot_id:
                raise CloneSuspected(existing)
            existing.supersede()  # the same agent reconnected before its old stream was noticed dead
        self._by_device[stream.device_id] = stream

    def close(self, stream: LiveStream) -> None:
        if self._by_device.get(stream.device_id) is stream:
            del self._by_device[stream.device_id]

    def push_policy(self, school_id: int, policy: pb.Policy) -> int:
        pushed = 0
        for stream in self._by_device.values():
            if stream.school_id == school_id:
                stream.outgoing.put_nowait(pb.ConsoleMessage(policy=policy))
                pushed += 1
        return pushed

    def send_command(self, device_id: str, command: pb.Command) -> bool:
        stream = self._by_device.get(device_id)
        if stream is None:
            return False
        stream.outgoing.put_nowait(pb.ConsoleMessage(command=command))
        return True

    def disconnect_all(self) -> None:
        for stream in self._by_device.values():
            stream.supersede()

    def disconnect(self, device_id: str) -> None:
        stream = self._by_device.get(device_id)
        if stream is not None:
            stream.supersede()
