"""A school, its devices and typed-text batches written straight into a test database, and what got stored, for the
ingest tests."""

from __future__ import annotations

import uuid

import uuid6
from safeguard_proto.v1 import agent_pb2 as pb
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from console.alerts.models import Alert
from console.devices.models import Device
from console.events.models import Event
from console.ingest.service import DeviceBatch
from console.store import transaction, utcnow

ALARMING = "i want to kill myself tonight"


def new_device(sessions: sessionmaker[Session]) -> tuple[str, int]:
    """A device of a new school: (device id, school id)."""
    with transaction(sessions) as session:
        school_id = session.execute(
            text("INSERT INTO schools (name, phase, contact_name, contact_email, contact_phone, created_at) "
                 "VALUES (:name, 'secondary', '', '', '', :now) RETURNING id"),
            {"name": f"School {uuid.uuid4().hex[:8]}", "now": utcnow()},
        ).scalar_one()
    return new_device_in(sessions, school_id), school_id


def new_device_in(sessions: sessionmaker[Session], school_id: int) -> str:
    device_id = str(uuid.uuid4())
    with transaction(sessions) as session:
        session.execute(
            text("INSERT INTO devices (id, school_id, hostname, os, certificate_serial, enrolled_at, revoked_reason, "
                 "agent_version, stored_through_seq, dropped_events, policy_version) "
                 "VALUES (:id, :school, '', '', '0', :now, '', '', 0, 0, 0)"),
            {"id": device_id, "school": school_id, "now": utcnow()},
        )
    return device_id


def typed_batch(device_id: str, school_id: int, seqs: range, *, alarming: set[int] = frozenset()) -> DeviceBatch:
    """Typed text at each seq: ALARMING at the `alarming` ones, homework at the rest."""
    events = []
    for seq in seqs:
        event = pb.Event(seq=seq, event_id=str(uuid6.uuid7()), user="pupil")
        event.time.GetCurrentTime()
        event.typed_text.text = ALARMING if seq in alarming else f"my homework on rivers, part {seq}"
        event.typed_text.application = "notepad"
        events.append(event)
    return DeviceBatch(device_id=device_id, school_id=school_id, phase="secondary", events=events)


def stored_rows(sessions: sessionmaker[Session], device_id: str) -> tuple[list[int], list[int], int]:
    """The device's stored event seqs, the seqs its alerts were raised on, and its stored-through seq."""
    with sessions() as session:
        events = list(session.scalars(select(Event.seq).where(Event.device_id == device_id).order_by(Event.seq)))
        alerts = list(session.scalars(select(Alert.event_seq).where(Alert.device_id == device_id).order_by(Alert.event_seq)))
        through = session.scalar(select(Device.stored_through_seq).where(Device.id == device_id))
    return events, alerts, through
