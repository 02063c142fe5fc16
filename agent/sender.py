"""Streams the spool to the console and deletes events only once the console acks them.

One long-lived mTLS stream; batches are sent ahead of their acks (a few in flight);
after any failure the stream is opened again with exponential backoff and full jitter,
and everything not yet acknowledged is sent again (the console skips what it has).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from agent.identity import DeviceIdentity
from agent.settings import VERSION, AgentSettings
from agent.spool import Spool
from safeguard_proto.v1 import agent_pb2 as pb
from safeguard_proto.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


@dataclass
class SenderState:
    connected: bool = False
    batch_size: int = 0
    last_error: str = ""
    acked_through_seq: int = 0


class Sender:
    def __init__(
        self,
        *,
        settings: AgentSettings,
        identity: DeviceIdentity,
        spool: Spool,
        policy_version: Callable[[], int],
        on_policy: Callable[[pb.Policy], None],
        on_command: Callable[[pb.Command], pb.CommandResult],
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._identity = identity
        self._spool = spool
        self._policy_version = policy_version
        self._on_policy = on_policy
        self._on_command = on_command
        self._on_connected = on_connected
        self._boot_id = str(uuid.uuid4())
        self._batch_id = 0
        self._wakeup = asyncio.Event()
        self.state = SenderState(batch_size=settings.batch_max_events)

    def wake(self) -> None:
        """Thread-safe: new events are in the spool."""
        self._loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._spool.on_put(self.wake)
        attempt = 0
        while not stop.is_set():
            try:
                acked_any = await self._session(stop)
                if acked_any:
                    attempt = 0
            except grpc.aio.AioRpcError as error:
                self.state.last_error = f"{error.code().name}: {error.details()}"
                if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    self.state.batch_size = max(1, self.state.batch_size // 2)
                log.warning("stream ended: %s", self.state.last_error)
            except asyncio.InvalidStateError:  # a write raced the end of the call (the console went away)
                self.state.last_error = "the stream ended while a message was being sent"
                log.warning("stream ended: %s", self.state.last_error)
            finally:
                self.state.connected = False
            if stop.is_set():
                break
            delay = random.uniform(
                0, min(self._settings.backoff_max_seconds, self._settings.backoff_initial_seconds * 2**attempt)
            )
            attempt = min(attempt + 1, 16)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _session(self, stop: asyncio.Event) -> bool:
        identity = self._identity
        credentials = grpc.ssl_channel_credentials(
            root_certificates=identity.ca_pem,
            private_key=identity.key_pem,
            certificate_chain=identity.certificate_pem,
        )
        target = f"{self._settings.console_host}:{self._settings.stream_port}"
        options = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000)]
        async with grpc.aio.secure_channel(target, credentials, options=options) as channel:
            call = pb_grpc.AgentServiceStub(channel).Stream()
            write_lock = asyncio.Lock()
            await call.write(
                pb.AgentMessage(
                    hello=pb.Hello(agent_version=VERSION, policy_version=self._policy_version(), boot_id=self._boot_id)
                )
            )
            self.state.connected = True
            self._on_connected()
            in_flight: dict[int, int] = {}  # batch_id -> last seq in it
            space = asyncio.Event()
            acked = {"any": False}

            async def read() -> None:
                async for message in call:
                    body = message.WhichOneof("body")
                    if body == "ack":
                        ack = message.ack
                        in_flight.pop(ack.batch_id, None)
                        await asyncio.to_thread(self._spool.ack, ack.acked_through_seq)
                        self.state.acked_through_seq = ack.acked_through_seq
                        for rejected in ack.rejected:
                            log.error("console quarantined event %d: %s", rejected.seq, rejected.reason)
                        acked["any"] = True
                        space.set()
                    elif body == "policy":
                        self._on_policy(message.policy)
                    elif body == "command":
                        result = await asyncio.to_thread(self._on_command, message.command)
                        async with write_lock:
                            await call.write(pb.AgentMessage(command_result=result))

            async def write() -> None:
                sent_through = 0
                while not stop.is_set():
                    self._wakeup.clear()
                    if len(in_flight) >= self._settings.batches_in_flight:
                        space.clear()
                        await space.wait()
                        continue
                    events = await asyncio.to_thread(self._spool.pending, sent_through, self.state.batch_size)
                    if not events:
                        await self._wakeup.wait()
                        continue
                    self._batch_id += 1
                    in_flight[self._batch_id] = events[-1].seq
                    async with write_lock:
                        await call.write(pb.AgentMessage(batch=pb.EventBatch(batch_id=self._batch_id, events=events)))
                    sent_through = events[-1].seq
                await call.done_writing()

            reader = asyncio.create_task(read())
            writer = asyncio.create_task(write())
            stopper = asyncio.create_task(stop.wait())
            try:
                done, _ = await asyncio.wait({reader, writer, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopper and task.exception() is not None:
                        raise task.exception()
            finally:
                for task in (reader, writer, stopper):
                    task.cancel()
                call.cancel()
            return acked["any"]
