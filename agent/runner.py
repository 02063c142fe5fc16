"""The agent: capture → spool → sender, with the live policy and a status heartbeat.

The runner emits the `agent_status` heartbeat itself (CPU and memory of this process
measured with psutil, spool depth and dropped counts) every `policy.heartbeat_seconds`;
capture implementations emit only what they capture.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import threading
import time
import uuid

import psutil

from agent import identity as device_identity
from agent import memory
from agent.capture.base import Capture
from agent.sender import Sender
from agent.settings import VERSION, AgentSettings
from agent.spool import Spool
from safeguard_proto.v1 import agent_pb2 as pb

log = logging.getLogger(__name__)

DEFAULT_POLICY = pb.Policy(
    version=0,
    capture_text=True,
    capture_windows=True,
    capture_web=True,
    capture_screenshots=True,
    heartbeat_seconds=60,
    text_pause_seconds=5,
    screenshot_min_interval_seconds=30,
    screenshot_max_width=1280,
    screenshot_quality=60,
    screenshot_format="jpeg",
)


_uuid7_lock = threading.Lock()
_uuid7_last_ms = 0


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7) whose millisecond stamp never repeats in this process.

    The same layout as the uuid6 package's, without that package's imports (importlib.metadata, email,
    hmac: some 2.5 MB of the agent's memory).
    """
    global _uuid7_last_ms
    with _uuid7_lock:
        _uuid7_last_ms = max(time.time_ns() // 1_000_000, _uuid7_last_ms + 1)
        stamp = _uuid7_last_ms
    random = int.from_bytes(os.urandom(10))
    rand_a, rand_b = random >> 68, random & (1 << 62) - 1  # 12 and 62 random bits
    return uuid.UUID(int=(stamp & 0xFFFF_FFFF_FFFF) << 80 | 7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b)


class Agent:
    def __init__(self, settings: AgentSettings, capture: Capture) -> None:
        self.settings = settings
        self.capture = capture
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.spool = Spool(
            settings.state_dir / "spool.db",
            max_bytes=settings.spool_max_bytes,
            max_age_seconds=settings.spool_max_age_days * 86400,
        )
        self._policy_path = settings.state_dir / "policy.bin"
        self.policy = (
            pb.Policy.FromString(self._policy_path.read_bytes()) if self._policy_path.exists() else DEFAULT_POLICY
        )
        self._user = getpass.getuser()
        self._process = psutil.Process()
        self._process.cpu_percent()  # the first call only starts the measurement
        self._startup_released = False

    def emit(self, event: pb.Event) -> int:
        """Stamp and spool an event; thread-safe. Returns its seq."""
        if not event.event_id:
            event.event_id = str(uuid7())
        if not event.HasField("time"):
            event.time.GetCurrentTime()
        if not event.user:
            event.user = self._user
        return self.spool.put(event)

    def apply_policy(self, policy: pb.Policy) -> None:
        if policy.version == self.policy.version:
            return
        try:
            self.capture.apply_policy(policy)
        except ValueError as error:
            log.error("refused policy version %d, keeping version %d: %s", policy.version, self.policy.version, error)
            return
        log.info("applied policy version %d", policy.version)
        self.policy = policy
        self._policy_path.write_bytes(policy.SerializeToString())

    def status(self) -> pb.Event:
        stats = self.spool.stats()
        return pb.Event(
            agent_status=pb.AgentStatus(
                cpu_percent=self._process.cpu_percent(),
                rss_bytes=self._process.memory_info().rss,
                spool_depth=stats.depth,
                spool_bytes=stats.bytes,
                dropped=stats.dropped,
                agent_version=VERSION,
                policy_version=self.policy.version,
            )
        )

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.emit(self.status())
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(1, self.policy.heartbeat_seconds or 60))
            except TimeoutError:
                pass

    def _started(self) -> None:
        """The stream to the console is open: start-up is over, its memory can go (once)."""
        if not self._startup_released:
            self._startup_released = True
            released = memory.release_unused_memory()
            log.info("released %.1f MB of start-up pages", released / 1024 / 1024)

    async def run(self, stop: asyncio.Event) -> None:
        identity = device_identity.load(self.settings.state_dir)
        if identity is None:
            identity, policy = await asyncio.to_thread(device_identity.enrol, self.settings)
            log.info("enrolled as device %s", identity.device_id)
            self.policy = DEFAULT_POLICY
            self.apply_policy(policy)
        self.capture.apply_policy(self.policy)
        self.capture.start(self.emit)
        sender = Sender(
            settings=self.settings,
            identity=identity,
            spool=self.spool,
            policy_version=lambda: self.policy.version,
            on_policy=self.apply_policy,
            on_command=self.capture.handle_command,
            on_connected=self._started,
        )
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        try:
            await sender.run(stop)
        finally:
            heartbeat.cancel()
            self.capture.stop()
            self.spool.close()
