"""The distributed bus: ingest publishes to NATS JetStream, detection workers store and detect.

Ingest (`NatsBus`) publishes each batch to the subject of its device and acks the agent
once JetStream has acked the publish (the batch is then on disk in the stream). Workers
(`DetectionWorker`) gather what is waiting, store it through the same `prepare_set`/`write_set`
as the embedded bus and ack the messages only after the commit. A redelivered message is
harmless: `write_prepared` skips seqs the device already stored.

Skipping by stored-through seq needs each device's batches committed in order. A device's subject
is in one of `PARTITIONS` partitions, each with its own durable consumer, and the live workers
share the partitions out among themselves: each heartbeats on the members stream and consumes the
partitions that fall to it there, so that one worker takes all of a device's batches. A worker
that stops leaves at once; one that dies is dropped after `MEMBER_SECONDS`, and its un-acked
messages are redelivered after the ack wait.

While the workers' views of who is live differ (a worker joining or leaving), two may hold two
batches of one device. A batch that does not follow on from what the device has stored then waits
in the worker that took it (with its device's later batches) until the other worker has committed
the earlier one. The stream keeps work-queue retention (an acked message is deleted), so a gap
that lasts is checked against the stream: when no earlier message of its device is left, it is
real (the agent dropped events from a full spool) and the batch is committed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import nats
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console import metrics
from console.detect import Detector
from console.devices.models import Device
from console.ingest.service import BatchOutcome, DeviceBatch, PreparedSet, prepare_set, settle_collector, write_set
from console.ingest.validate import EventCheck, Limits
from console.store import utcnow
from safeguard_proto.v1 import agent_pb2 as pb

log = logging.getLogger(__name__)

STREAM = "SAFEGUARD_BATCHES"
SUBJECT_PREFIX = "safeguard.batches."  # + partition + "." + device id
CONSUMER = "detect"  # + "-" + partition
PARTITIONS = 16  # at most this many workers share the work
MEMBERS_STREAM = "SAFEGUARD_WORKERS"
MEMBER_PREFIX = "safeguard.workers."  # + worker name
HEARTBEAT_SECONDS = 1.0
MEMBER_SECONDS = 5.0  # a worker not heard from for this long is gone, and its partitions are shared out again
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_DEVICE, _SCHOOL, _PHASE = "Sg-Device", "Sg-School", "Sg-Phase"


class BadMessage(ValueError):
    """A message on the batch subjects that is not a batch this console published."""


def subject_for(device_id: str) -> str:
    if not _TOKEN.fullmatch(device_id):
        raise ValueError(f"device id {device_id!r} cannot be a NATS subject token")
    return _subject(device_id)


def _subject(device_id: str) -> str:
    return f"{SUBJECT_PREFIX}{zlib.crc32(device_id.encode()) % PARTITIONS}.{device_id}"


def partitions_of(member: str, members: Iterable[str]) -> set[int]:
    """The partitions `member` consumes when `members` are live: in name order they take them in turn."""
    ordered = sorted(set(members) | {member})
    index = ordered.index(member)
    return {partition for partition in range(PARTITIONS) if partition % len(ordered) == index}


def encode(batch: DeviceBatch) -> tuple[str, bytes, dict[str, str]]:
    headers = {_DEVICE: batch.device_id, _SCHOOL: str(batch.school_id), _PHASE: batch.phase}
    return subject_for(batch.device_id), pb.EventBatch(events=batch.events).SerializeToString(), headers


def decode(subject: str, data: bytes, headers: dict[str, str] | None) -> DeviceBatch:
    headers = headers or {}
    device_id = headers.get(_DEVICE, "")
    if subject != _subject(device_id):  # the stream takes only two tokens after the prefix: no dot in a device id
        raise BadMessage(f"message on {subject!r} names device {device_id!r}")
    try:
        school_id = int(headers.get(_SCHOOL, ""))
        events = pb.EventBatch.FromString(data).events
    except ValueError as error:  # protobuf's DecodeError is a ValueError
        raise BadMessage(f"message on {subject!r}: {error}") from error
    if not events:
        raise BadMessage(f"message on {subject!r} has no events")
    return DeviceBatch(device_id=device_id, school_id=school_id, phase=headers.get(_PHASE, ""), events=events)


async def connect(url: str, *, name: str) -> tuple[nats.NATS, JetStreamContext]:
    """Connect (reconnecting forever afterwards) and make sure the stream exists."""
    client = await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=_log_error,
        disconnected_cb=_log_disconnected,
        reconnected_cb=_log_reconnected,
    )
    jetstream = client.jetstream()
    batches = StreamConfig(
        name=STREAM,
        subjects=[SUBJECT_PREFIX + "*.*"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
    )
    members = StreamConfig(
        name=MEMBERS_STREAM,
        subjects=[MEMBER_PREFIX + ">"],
        max_age=MEMBER_SECONDS,
        max_msgs_per_subject=1,
        storage=StorageType.FILE,
    )
    for config in (batches, members):
        try:
            await jetstream.add_stream(config)
        except BadRequestError:
            await jetstream.update_stream(config)
    return client, jetstream


async def _log_error(error: Exception) -> None:
    log.warning("NATS: %r", error)


async def _log_disconnected() -> None:
    log.warning("disconnected from NATS")


async def _log_reconnected() -> None:
    log.warning("reconnected to NATS")


class NatsBus:
    """The ingest side: `publish` resolves once JetStream has the batch on disk."""

    def __init__(self, *, url: str, limits: Limits, publish_timeout: float = 5.0) -> None:
        self._url = url
        self._limits = limits
        self._publish_timeout = publish_timeout
        self._client: nats.NATS | None = None
        self._jetstream: JetStreamContext | None = None

    async def start(self) -> None:
        self._client, self._jetstream = await connect(self._url, name="safeguard-ingest")

    async def publish(self, batch: DeviceBatch) -> BatchOutcome:
        if self._jetstream is None:
            raise RuntimeError("the NATS bus is not running")
        metrics.record_received(batch)
        subject, payload, headers = encode(batch)
        await self._jetstream.publish(subject, payload, timeout=self._publish_timeout, stream=STREAM, headers=headers)
        check = EventCheck(self._limits, utcnow())
        rejected = [
            pb.RejectedEvent(seq=event.seq, reason=problem)
            for event in batch.events
            if (problem := check.problem(event, event.WhichOneof("kind"))) is not None
        ]
        return BatchOutcome(acked_through_seq=batch.events[-1].seq, rejected=rejected)

    async def close(self) -> None:
        """Publishes are awaited by their streams, so once those ended nothing is in flight."""
        if self._client is not None:
            await self._client.drain()


@dataclass
class _Taken:
    message: Msg
    batch: DeviceBatch
    waiting_since: float = 0.0  # monotonic time first found not to follow on, or last checked; 0: not yet

    @cached_property
    def stream_seq(self) -> int:  # parsed from the reply subject: once per message, not per look
        return self.message.metadata.sequence.stream


@dataclass
class _Writing:
    """The set being committed while the next one is prepared."""

    task: asyncio.Task[bool]  # True once committed and acked
    through: dict[str, int]  # device -> the last seq the set holds of it


class DetectionWorker:
    """Consume batches from JetStream: store, detect, commit, then ack."""

    def __init__(
        self,
        *,
        url: str,
        sessions: sessionmaker[Session],
        detector: Detector,
        limits: Limits,
        ack_wait_seconds: float = 30.0,
        max_batches: int = 1000,
        max_events: int = 10_000,
        retry_seconds: float = 0.2,
        gap_check_seconds: float = 5.0,
    ) -> None:
        self._url = url
        self._sessions = sessions
        self._detector = detector
        self._limits = limits
        self._ack_wait_seconds = ack_wait_seconds
        self._max_batches = max_batches
        self._max_events = max_events
        self._take = min(max_batches, 64)  # messages per set: adapted to keep a set within max_events
        self._retry_seconds = retry_seconds
        self._gap_check_seconds = gap_check_seconds
        self._pending_checked = 0.0
        self._waiting: list[_Taken] = []  # taken, but behind an earlier batch of the device; oldest first
        self.name = uuid.uuid4().hex  # as a member of the workers sharing the partitions

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; the sets in hand are committed and acked before returning."""
        settle_collector()
        client, jetstream = await connect(self._url, name="safeguard-worker")
        inbox: asyncio.Queue[Msg] = asyncio.Queue()  # bounded by each partition's max_ack_pending
        membership = asyncio.create_task(self._membership(jetstream, inbox), name="worker-membership")
        log.info("detection worker %s consuming %s from %s", self.name, STREAM, self._url)
        writing: _Writing | None = None
        try:
            while not stop.is_set():
                if membership.done():  # it ends only by failing; without heartbeats the others take its partitions
                    membership.result()
                # While batches wait for a commit, look again soon whether it happened.
                busy = self._waiting or writing is not None and not writing.task.done()
                messages = await self._gather(inbox, timeout=0.05 if busy else 1.0)
                writing, events = await self._handle(jetstream, messages, writing)
                if events:  # the next set: as many messages as fit the budget at this set's events per message
                    budget = min(self._max_batches, self._max_events * len(messages) // events)
                    self._take = max(1, budget - len(self._waiting))
                await self._report_pending(jetstream)
            membership.cancel()
            await asyncio.gather(membership, return_exceptions=True)
            if writing is not None:
                await writing.task
            await self._hand_back(self._waiting)
            while not inbox.empty():
                await inbox.get_nowait().nak()
        finally:
            membership.cancel()
            try:
                await client.flush(timeout=5)  # the acks of the last set; unsent ones mean a redelivery
            except NatsError as error:
                log.warning("could not flush the last acks: %r", error)
            await client.close()

    async def _membership(self, jetstream: JetStreamContext, inbox: asyncio.Queue[Msg]) -> None:
        """Heartbeat on the members stream and stay subscribed to the partitions that fall to this worker among
        the live ones; on the way out, leave, so that the others take its partitions at once."""
        subject = MEMBER_PREFIX + self.name
        members: set[str] = set()
        owned: set[int] = set()
        subscriptions: dict[int, JetStreamContext.PushSubscription] = {}
        try:
            while True:
                try:
                    await jetstream.publish(subject, b"", stream=MEMBERS_STREAM)
                    info = await jetstream.stream_info(MEMBERS_STREAM, subjects_filter=MEMBER_PREFIX + ">")
                    members = {name.removeprefix(MEMBER_PREFIX) for name in info.state.subjects or {}}
                except NatsError as error:
                    log.warning("heartbeat to JetStream failed: %r", error)
                owned, before = partitions_of(self.name, members), owned
                if owned != before:
                    log.info("consuming partitions %s with %d workers", sorted(owned), len(members | {self.name}))
                for partition in set(subscriptions) - owned:
                    await subscriptions.pop(partition).unsubscribe()
                for partition in owned - set(subscriptions):
                    try:
                        subscriptions[partition] = await self._subscribe(jetstream, partition, inbox)
                    except NatsError as error:  # tried again at the next heartbeat
                        log.warning("subscribing to partition %d failed: %r", partition, error)
                await asyncio.sleep(HEARTBEAT_SECONDS)
        finally:
            try:
                for subscription in subscriptions.values():
                    await subscription.unsubscribe()
                await jetstream.purge_stream(MEMBERS_STREAM, subject=subject)
            except NatsError as error:
                log.warning("could not leave the workers: %r", error)

    async def _subscribe(
        self, jetstream: JetStreamContext, partition: int, inbox: asyncio.Queue[Msg]
    ) -> JetStreamContext.PushSubscription:
        """The partition's messages, pushed into the inbox as they arrive; the partition's workers are one queue
        group, in case two take it for a while."""

        async def deliver(message: Msg) -> None:
            inbox.put_nowait(message)

        return await jetstream.subscribe(
            f"{SUBJECT_PREFIX}{partition}.*",
            queue=f"{CONSUMER}-{partition}",
            stream=STREAM,
            cb=deliver,
            manual_ack=True,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._ack_wait_seconds,
                max_deliver=-1,
                # What may wait in this worker's inbox: two sets' worth if it consumes every partition.
                max_ack_pending=max(64, 2 * self._max_batches // PARTITIONS),
            ),
        )

    async def _gather(self, inbox: asyncio.Queue[Msg], *, timeout: float) -> list[Msg]:
        """The next set's messages: the first to arrive within `timeout`, and what else is waiting."""
        try:
            messages = [await asyncio.wait_for(inbox.get(), timeout)]
        except TimeoutError:
            return []
        while len(messages) < self._take and not inbox.empty():
            messages.append(inbox.get_nowait())
        return messages

    async def _handle(
        self, jetstream: JetStreamContext, messages: list[Msg], writing: _Writing | None
    ) -> tuple[_Writing | None, int]:
        """Prepare what the waiting and the new batches can store in order (after the set being written, if
        any), then write it once that set is committed; the rest keeps waiting. Returns the set now being
        written and the new batches' events."""
        new: list[_Taken] = []
        for message in messages:
            try:
                new.append(_Taken(message, decode(message.subject, message.data, message.headers)))
            except BadMessage as error:
                log.error("dropping a message that is not a batch: %s", error)
                await message.term()
        events = sum(len(item.batch.events) for item in new)
        taken = sorted(self._waiting + new, key=lambda item: item.stream_seq)
        self._waiting = []
        if not taken:
            return writing, events
        if writing is not None and writing.task.done():
            writing.task.result()  # raises what `_write` let through, as awaiting it below would
            writing = None  # it ended before the database is read: what is put in order now does not follow it
        # Read before the database, so that a set committed meanwhile is counted (if it failed instead, what
        # is put after it here is handed back below).
        in_flight = writing.through if writing is not None else {}
        try:
            stored = await asyncio.to_thread(self._stored_through, {item.batch.device_id for item in taken})
            for device_id, through in in_flight.items():
                if device_id in stored:
                    stored[device_id] = max(stored[device_id], through)
            ready, self._waiting = await self._in_order(jetstream, taken, stored)
        except Exception:
            log.exception("could not order %d batches; handing them back", len(taken))
            await self._hand_back(taken)
            return writing, events
        if not ready:
            return writing, events
        batches = [item.batch for item in ready]
        started = time.perf_counter()
        try:
            prepared = await asyncio.to_thread(
                prepare_set, self._sessions, detector=self._detector, batches=batches, limits=self._limits
            )
        except Exception:
            await self._store_failed(ready)
            return writing, events
        if writing is not None and not await writing.task:
            # This set was put in order after that one, which is not stored: it would store over its gap.
            await self._hand_back(ready)
            return None, events
        through: dict[str, int] = {}
        for item in ready:
            through[item.batch.device_id] = max(through.get(item.batch.device_id, 0), item.batch.events[-1].seq)
        task = asyncio.create_task(self._write(ready, prepared, started))
        return _Writing(task, through), events

    async def _write(self, items: list[_Taken], prepared: PreparedSet, started: float) -> bool:
        """Commit a prepared set and ack its messages, or hand them back; True when committed."""
        try:
            outcomes = await asyncio.to_thread(write_set, self._sessions, prepared)
        except Exception:
            await self._store_failed(items)
            return False
        metrics.record_stored(prepared.batches, outcomes, seconds=time.perf_counter() - started, now=utcnow())
        for item in items:
            await item.message.ack()
        return True

    async def _in_order(
        self, jetstream: JetStreamContext, taken: list[_Taken], stored: dict[str, int]
    ) -> tuple[list[_Taken], list[_Taken]]:
        """The batches that follow on from what their device has stored (in stream order), and the rest."""
        ready: list[_Taken] = []
        waiting: list[_Taken] = []
        through = dict(stored)
        last_ready: dict[str, int] = {}  # device -> stream seq of its last batch in `ready`
        gaps: dict[str, _Taken] = {}  # device -> its first batch that does not follow on
        now = time.monotonic()
        for item in taken:
            device_id = item.batch.device_id
            if device_id not in through:
                log.error("dropping a batch of unknown device %s", device_id)
                await item.message.term()
                continue
            if device_id in gaps or item.batch.events[0].seq > through[device_id] + 1:
                gaps.setdefault(device_id, item)
                item.waiting_since = item.waiting_since or now
                waiting.append(item)
                continue
            ready.append(item)
            last_ready[device_id] = item.stream_seq
            through[device_id] = max(through[device_id], item.batch.events[-1].seq)
        # Usually the other worker is committing the earlier batch; a gap that lasts may be real.
        due = [item for item in gaps.values() if now - item.waiting_since >= self._gap_check_seconds]
        earlier = await asyncio.gather(
            *(self._nothing_earlier(jetstream, item, after=last_ready.get(item.batch.device_id, 0)) for item in due)
        )
        for item, nothing_earlier in zip(due, earlier):
            if nothing_earlier:
                waiting.remove(item)
                ready.append(item)  # after its device's other ready batches: the order is kept
            else:
                item.waiting_since = now
        return ready, waiting

    @staticmethod
    async def _nothing_earlier(jetstream: JetStreamContext, item: _Taken, *, after: int) -> bool:
        """True when no message of this device sits in the stream between `after` and this one."""
        try:
            first = await jetstream.get_msg(STREAM, seq=after + 1, subject=item.message.subject, next=True)
        except NotFoundError:
            return True
        return first.seq >= item.stream_seq

    async def _store_failed(self, items: list[_Taken]) -> None:
        """In an except block: count and log the failure, and hand the batches back."""
        metrics.COMMIT_FAILURES.inc()
        log.exception("storing %d batches failed; they will be taken again", len(items))
        await self._hand_back(items)

    async def _hand_back(self, items: list[_Taken]) -> None:
        for item in items:
            await item.message.nak(delay=self._retry_seconds)

    def _stored_through(self, device_ids: set[str]) -> dict[str, int]:
        with self._sessions() as session:
            query = select(Device.id, Device.stored_through_seq).where(Device.id.in_(device_ids))
            return {device_id: seq for device_id, seq in session.execute(query)}

    async def _report_pending(self, jetstream: JetStreamContext) -> None:
        if time.monotonic() - self._pending_checked < 5:
            return
        self._pending_checked = time.monotonic()
        try:
            info = await jetstream.stream_info(STREAM)
        except NatsError:
            return
        metrics.QUEUE_DEPTH.labels("jetstream").set(info.state.messages)  # work queue: not yet acked
