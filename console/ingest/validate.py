"""Validation of incoming batches.

A batch that is wrong as a whole (too many events, seqs not increasing) is refused with a
gRPC status and nothing of it is stored; the agent keeps it and adapts. An event that is
wrong on its own is quarantined with its reason and the rest of the batch goes on.
"""

from __future__ import annotations

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


# Per event kind, its singular text fields: what the text limit applies to.
_TEXT_FIELDS = {
    kind.name: tuple(
        field.name
        for field in kind.message_type.fields
        if field.type == field.TYPE_STRING and not field.is_repeated
    )
    for kind in pb.Event.DESCRIPTOR.oneofs_by_name["kind"].fields
}


class EventCheck:
    """Why an event cannot be accepted at ``now``, or None: the checks of one gathered set, whose events share
    one ``now`` (the time bounds are worked out once, not per event)."""

    def __init__(self, limits: Limits, now: datetime) -> None:
        self._limits = limits
        self._now = now
        self._oldest = (now - limits.max_age).timestamp()
        self._latest = (now + limits.max_future_skew).timestamp()

    def problem(self, event: pb.Event, kind: str | None) -> str | None:
        """`kind` is the event's ``WhichOneof("kind")``, which the caller needs as well."""
        event_id = event.event_id
        if not _UUID7.fullmatch(event_id):
            try:
                if uuid.UUID(event_id).version != 7:
                    return f"event_id {event_id!r} is not a UUIDv7"
            except ValueError:
                return f"event_id {event_id!r} is not a UUID"
            return f"event_id {event_id!r} is not in canonical form (lower-case, with hyphens)"
        if not event.HasField("time"):
            return "missing time"
        time = event.time
        seconds, nanos = time.seconds, time.nanos
        if not (_FIRST_SECOND <= seconds <= _LAST_SECOND and 0 <= nanos < 1_000_000_000):
            return f"time ({seconds} s, {nanos} ns) is not a valid timestamp"
        exact = seconds + nanos / 1e9  # protobuf's ToDatetime is slow on this hot path
        if exact > self._latest:
            return f"time {time.ToDatetime(tzinfo=self._now.tzinfo).isoformat()} is in the future"
        if exact < self._oldest:
            return (
                f"time {time.ToDatetime(tzinfo=self._now.tzinfo).isoformat()} is older than "
                f"{self._limits.max_age.days} days"
            )
        if kind is None:
            return "missing event kind"
        body = getattr(event, kind)
        limit = self._limits.max_text_chars
        for name in _TEXT_FIELDS[kind]:
            if len(value := getattr(body, name)) > limit:
                return f"{kind}.{name} has {len(value)} characters; the limit is {limit}"
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
