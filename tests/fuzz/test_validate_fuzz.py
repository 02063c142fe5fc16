"""Event validation never crashes: any wire bytes either fail to parse, are refused as a batch
with a gRPC status, or yield per-event verdicts (None or a reason) and storable timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import grpc
import uuid6
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.ingest.validate import BatchRefused, EventCheck, Limits, check_batch
from safeguard_proto.v1 import agent_pb2 as pb

LIMITS = Limits(max_batch_events=50, max_text_chars=200, max_future_skew=timedelta(minutes=5), max_age=timedelta(days=30))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)

event_ids = st.one_of(
    st.builds(lambda: str(uuid6.uuid7())),
    st.builds(lambda: str(uuid6.uuid7()).upper()),
    st.uuids().map(str),
    st.text(max_size=40),
)
bodies = st.one_of(
    st.builds(pb.TypedText, text=st.text(max_size=300), deleted_text=st.text(max_size=50), application=st.text(max_size=20)),
    st.builds(pb.WindowFocus, title=st.text(max_size=300), process_name=st.text(max_size=20)),
    st.builds(pb.WebVisit, url=st.text(max_size=100), title=st.text(max_size=100)),
    st.builds(pb.Screenshot, format=st.sampled_from(["jpeg", "png", "gif", ""]), image=st.binary(max_size=20)),
    st.builds(pb.AgentStatus, cpu_percent=st.floats(allow_nan=True), agent_version=st.text(max_size=10)),
    st.none(),
)
FIELD = {pb.TypedText: "typed_text", pb.WindowFocus: "window_focus", pb.WebVisit: "web_visit",
         pb.Screenshot: "screenshot", pb.AgentStatus: "agent_status"}


@st.composite
def events(draw) -> pb.Event:
    event = pb.Event(seq=draw(UINT64), event_id=draw(event_ids), user=draw(st.text(max_size=20)))
    if draw(st.booleans()):
        # Anything the wire can carry, including times no calendar has.
        event.time.seconds = draw(st.one_of(INT64, st.integers(int(NOW.timestamp()) - 10**8, int(NOW.timestamp()) + 10**6)))
        event.time.nanos = draw(st.integers(-(2**31), 2**31 - 1))
    body = draw(bodies)
    if body is not None:
        getattr(event, FIELD[type(body)]).CopyFrom(body)
    return event


@given(st.lists(events(), max_size=20), UINT64)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_batch_is_refused_or_judged_event_by_event(batch_events, batch_id):
    batch = pb.EventBatch(batch_id=batch_id, events=batch_events)
    try:
        check_batch(batch, LIMITS)
    except BatchRefused as refused:
        assert isinstance(refused.code, grpc.StatusCode) and str(refused)
        return
    assert all(0 < event.seq < 2**63 for event in batch.events), "seqs the database can keep"
    for event in batch.events:
        problem = EventCheck(LIMITS, NOW).problem(event, event.WhichOneof("kind"))
        assert problem is None or (isinstance(problem, str) and problem)
        if problem is None:
            stamp = event.time.ToDatetime(tzinfo=timezone.utc)  # what the store will do with it
            assert NOW - LIMITS.max_age <= stamp <= NOW + LIMITS.max_future_skew


@given(st.binary(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_arbitrary_wire_bytes_never_crash_validation(data):
    try:
        message = pb.AgentMessage.FromString(data)
    except DecodeError:
        return
    if message.WhichOneof("body") != "batch":
        return
    try:
        check_batch(message.batch, LIMITS)
    except BatchRefused:
        return
    for event in message.batch.events:
        problem = EventCheck(LIMITS, NOW).problem(event, event.WhichOneof("kind"))
        assert problem is None or isinstance(problem, str)
