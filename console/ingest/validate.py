"""Validation of incoming batches.

A batch that is wrong as a whole (too many events, seqs not increasing) is refused with a
gRPC status and nothing of it is stored; the agent keeps it and adapts. An event that is
wrong on its own is quarantined with its reason and the rest of the batch goes on.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc

from safeguard_proto.v1 import agent_pb2 as pb

IMAGE_FORMATS = {"jpeg", "webp", "png"}
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_SEQ = 2**63 - 1  # the database keeps seqs in a signed 64-bit column


@dataclass(frozen=True)
class Limits:
    max_batch_events: int
    max_text_chars: int
    max_future_skew: timedelta
    max_age: timedelta


class BatchRefused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_batch(batch: pb.EventBatch, limits: Limits) -> None:
    if len(batch.events) == 0:
        raise BatchRefused(grpc.StatusCode.INVALID_ARGUMENT, f"batch {batch.batch_id} has no events")
    if len(batch.events) > limits.max_batch_events:
        raise BatchRefused(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"batch {batch.batch_id} has {len(batch.events)} events; the limit is {limits.max_batch_events}",
        )
    previous = 0
    for event in batch.events:
        if event.seq <= previous:
            raise BatchRefused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch {batch.batch_id}: seq {event.seq} follows {previous}; seqs must be positive and increasing",
            )
        previous = event.seq
    if previous > MAX_SEQ:
        raise BatchRefused(
            grpc.StatusCode.INVALID_ARGUMENT, f"batch {batch.batch_id}: seq {previous} is beyond the largest, {MAX_SEQ}"
        )


_FIRST_SECOND, _LAST_SECOND = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31, as protobuf allows
# The canonical form agents send; anything else takes the slow path below for a precise reason.
_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@functools.lru_cache(maxsize=8)
def _time_bounds(now: datetime, limits: Limits) -> tuple[float, float]:
    """The oldest and the latest event time accepted at ``now``, in seconds since the epoch (one gathered
    set of batches shares one ``now``: computed once, not per event)."""
    return (now - limits.max_age).timestamp(), (now + limits.max_future_skew).timestamp()


def event_problem(event: pb.Event, limits: Limits, now: datetime) -> str | None:
    """Why this event cannot be accepted, or None."""
    if not _UUID7.fullmatch(event.event_id):
        try:
            if uuid.UUID(event.event_id).version != 7:
                return f"event_id {event.event_id!r} is not a UUIDv7"
        except ValueError:
            return f"event_id {event.event_id!r} is not a UUID"
        return f"event_id {event.event_id!r} is not in canonical form (lower-case, with hyphens)"
    if not event.HasField("time"):
        return "missing time"
    time = event.time
    if not (_FIRST_SECOND <= time.seconds <= _LAST_SECOND and 0 <= time.nanos < 1_000_000_000):
        return f"time ({time.seconds} s, {time.nanos} ns) is not a valid timestamp"
    seconds = time.seconds + time.nanos / 1e9  # protobuf's ToDatetime is slow on this hot path
    oldest, latest = _time_bounds(now, limits)
    if seconds > latest:
        return f"time {event.time.ToDatetime(tzinfo=now.tzinfo).isoformat()} is in the future"
    if seconds < oldest:
        return f"time {event.time.ToDatetime(tzinfo=now.tzinfo).isoformat()} is older than {limits.max_age.days} days"
    kind = event.WhichOneof("kind")
    if kind is None:
        return "missing event kind"
    body = getattr(event, kind)
    # A string of n characters takes at least n bytes encoded: a body no bigger than the limit has none too long.
    for field, value in body.ListFields() if body.ByteSize() > limits.max_text_chars else ():
        if isinstance(value, str) and len(value) > limits.max_text_chars:
            return f"{kind}.{field.name} has {len(value)} characters; the limit is {limits.max_text_chars}"
    if kind == "screenshot":
        if body.format not in IMAGE_FORMATS:
            return f"screenshot format {body.format!r} is not one of {sorted(IMAGE_FORMATS)}"
        if not body.image:
            return "screenshot has no image"
        if len(body.image) > MAX_IMAGE_BYTES:
            return f"screenshot of {len(body.image)} bytes exceeds {MAX_IMAGE_BYTES}"
    if kind == "web_visit" and not body.url:
        return "web_visit has no url"
    return None
