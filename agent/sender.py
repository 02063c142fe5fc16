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

from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from agent import transport
from agent.identity import DeviceIdentity
from agent.settings import VERSION, AgentSettings
from agent.spool import Spool
from safeguard_proto.v1 import agent_pb2 as pb

log = logging.getLogger(__name__)

STREAM = transport.method("Stream")
# grpcio's least connect timeout: a console that does not answer is tried again, not waited for.
CONNECT_SECONDS = 20.0


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
            except transport.CALL_FAILURES as error:
                self.state.last_error = transport.describe(error)
                if isinstance(error, GRPCError) and error.status is Status.RESOURCE_EXHAUSTED:
                    self.state.batch_size = max(1, self.state.batch_size // 2)
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
        context = transport.tls_context(
            identity.ca_path, certificate=identity.certificate_path, key=identity.key_path
        )
        async with (
            transport.channel(self._settings.console_host, self._settings.stream_port, context) as channel,
            channel.request(STREAM, Cardinality.STREAM_STREAM, pb.AgentMessage, pb.ConsoleMessage) as call,
        ):
            write_lock = asyncio.Lock()
            hello = pb.Hello(
                agent_version=VERSION, policy_version=self._policy_version(), boot_id=self._boot_id
            )
            async with asyncio.timeout(CONNECT_SECONDS):
                await call.send_message(pb.AgentMessage(hello=hello))
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
                            await call.send_message(pb.AgentMessage(command_result=result))
                # Leaving `call` with this error makes grpclib raise the console's status from the trailers
                # instead, when it is not OK.
                raise StreamTerminatedError("the console ended the stream")

            async def write() -> None:
                sent_through = 0
                while True:
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
                        await call.send_message(
                            pb.AgentMessage(batch=pb.EventBatch(batch_id=self._batch_id, events=events))
                        )
                    sent_through = events[-1].seq

            reader = asyncio.create_task(read())
            writer = asyncio.create_task(write())
            stopper = asyncio.create_task(stop.wait())
            try:
                done, _ = await asyncio.wait({reader, writer, stopper}, return_when=asyncio.FIRST_COMPLETED)
                # Neither ends but with an error; the reader's first, as it carries the console's status.
                for task in (reader, writer):
                    if task in done and (error := task.exception()) is not None:
                        raise error
            finally:
                for task in (reader, writer, stopper):
                    task.cancel()
                await asyncio.gather(reader, writer, stopper, return_exceptions=True)
            # Stopping: the console drops the stream with the connection; what it has not acked is resent.
            channel.close()
            return acked["any"]
