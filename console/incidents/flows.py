"""Raising an incident: create it, tell the school's own case system, escalate to the DSL.

Nothing leaves here: the webhook call and the escalation email are queued in this transaction and sent by the
console's sender once it has committed (a rolled-back incident is never announced)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from console.escalation import flows as escalation
from console.incidents import service
from console.incidents.models import Incident, IncidentCreate, IncidentRead
from console.notify import flows as notify
from console.settings import Settings


def raise_incident(*, session: Session, settings: Settings, data: IncidentCreate, actor: str, now: datetime) -> Incident:
    incident = service.create(session=session, settings=settings, data=data, actor=actor, now=now)
    notify.enqueue_webhook(
        session=session, school_id=incident.school_id, event="incident.created",
        payload=IncidentRead.model_validate(incident).model_dump(mode="json"),
        object_type="incident", object_id=incident.id, now=now,
    )
    escalation.start(session=session, settings=settings, incident=incident, now=now)
    return incident
