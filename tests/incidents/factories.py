"""Schools, devices' events, alerts and contacts for the incident, escalation, case and records tests."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

from PIL import Image
from sqlalchemy.orm import Session

from console.alerts.models import Alert
from console.escalation import service as escalation
from console.escalation.models import ContactCreate, ContactRole
from console.events.models import Event, EventKind, Screenshot
from console.schools.models import Phase, School


def school(session: Session, name: str = "Hillside Academy") -> School:
    record = School(name=name, phase=Phase.secondary)
    session.add(record)
    session.flush()
    return record


def contacts(session: Session, school: School, now: datetime, domain: str = "hillside.example") -> None:
    escalation.set_contacts(
        session=session,
        school_id=school.id,
        contacts=[
            ContactCreate(role=ContactRole.dsl, name="Dana Lead", email=f"dsl@{domain}"),
            ContactCreate(role=ContactRole.deputy, name="Derek Deputy", email=f"deputy@{domain}"),
            ContactCreate(role=ContactRole.last_responder, name="Hannah Head", email=f"head@{domain}"),
        ],
        actor="admin",
        now=now,
    )


def png(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 40), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def alert(
    session: Session,
    school: School,
    *,
    pupil: str = "p.smith",
    at: datetime,
    risk: int = 5,
    category: str = "self_harm",
    text: str = "i want to hurt myself tonight",
    screenshot: bool = True,
) -> Alert:
    """An alert with its device's context: a web page before, the flagged text, and a screenshot."""
    device = str(uuid.uuid4())
    session.add_all([
        Event(device_id=device, seq=1, event_id=str(uuid.uuid4()), kind=EventKind.web_visit, time=at - timedelta(minutes=2),
              user=pupil, text="How to tie knots", detail={"url": "https://example.org/knots"}),
        Event(device_id=device, seq=2, event_id=str(uuid.uuid4()), kind=EventKind.typed_text, time=at, user=pupil,
              text=text),
    ])
    if screenshot:
        session.add(Screenshot(device_id=device, seq=3, trigger_seq=2, time=at, format="png", width=64, height=40,
                               reason="phrase typed", image=png()))
    record = Alert(school_id=school.id, device_id=device, user=pupil, event_seq=2, event_time=at, created_at=at,
                   source="typed_text", category=category, risk=risk, rule_id="self_harm.intent", phrase="hurt myself",
                   text=text, match_start=7, match_end=18)
    session.add(record)
    session.flush()
    return record
