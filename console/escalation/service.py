"""Escalation contacts and rules per school, and the queries the officers' dashboard needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from console.audit.service import record
from console.escalation.models import Contact, ContactCreate, Escalation, EscalationStatus, Rule
from console.incidents.models import Incident
from console.settings import Settings


class EscalationError(Exception):
    """An escalation that cannot go ahead as asked; the message says why."""


def set_contacts(
    *, session: Session, school_id: int, contacts: Sequence[ContactCreate], actor: str, now: datetime
) -> list[Contact]:
    """Replace the school's ordered contact list: the first is asked first."""
    if not contacts:
        raise EscalationError("a school needs at least one escalation contact (its DSL)")
    session.execute(delete(Contact).where(Contact.school_id == school_id))
    rows = [Contact(school_id=school_id, position=n, role=c.role, name=c.name, email=c.email)
            for n, c in enumerate(contacts)]
    session.add_all(rows)
    session.flush()
    record(session=session, actor=actor, action="escalation.contacts", object_type="school", object_id=school_id,
           detail={"contacts": [f"{c.role}: {c.name} <{c.email}>" for c in contacts]}, at=now)
    return rows


def contacts(*, session: Session, school_id: int) -> list[Contact]:
    return list(session.scalars(select(Contact).where(Contact.school_id == school_id).order_by(Contact.position)))


def set_rule(
    *, session: Session, school_id: int, level: int, ack_minutes: int | None, actor: str, now: datetime
) -> Rule:
    if not 1 <= level <= 5:
        raise EscalationError(f"risk levels are 1 to 5, not {level}")
    if ack_minutes is not None and ack_minutes < 1:
        raise EscalationError(f"the acknowledgement time must be at least one minute, not {ack_minutes}")
    rule = session.scalar(select(Rule).where(Rule.school_id == school_id, Rule.level == level))
    if rule is None:
        rule = Rule(school_id=school_id, level=level)
        session.add(rule)
    rule.ack_minutes = ack_minutes
    session.flush()
    record(session=session, actor=actor, action="escalation.rule", object_type="school", object_id=school_id,
           detail={"level": level, "ack_minutes": ack_minutes}, at=now)
    return rule


def ack_minutes_for(*, session: Session, settings: Settings, school_id: int, level: int) -> int | None:
    """The school's rule for the level, else the default: minutes to acknowledge, or None for the digest."""
    rule = session.scalar(select(Rule).where(Rule.school_id == school_id, Rule.level == level))
    if rule is not None:
        return rule.ack_minutes
    return settings.escalation_ack_minutes.get(level)


def get(*, session: Session, escalation_id: int) -> Escalation | None:
    return session.get(Escalation, escalation_id)


def for_incident(*, session: Session, incident_id: int) -> list[Escalation]:
    return list(session.scalars(select(Escalation).where(Escalation.incident_id == incident_id).order_by(Escalation.id)))


def overdue(*, session: Session, now: datetime, school_ids: Sequence[int] | None = None) -> list[Escalation]:
    """Escalations still unacknowledged past their time, or with every contact asked in vain; oldest first."""
    query = select(Escalation).where(
        or_(
            Escalation.status == EscalationStatus.exhausted,
            (Escalation.status == EscalationStatus.awaiting_ack) & (Escalation.ack_due_at <= now),
        )
    )
    if school_ids is not None:
        query = query.where(Escalation.school_id.in_(school_ids))
    return list(session.scalars(query.order_by(Escalation.started_at)))


def awaiting_acknowledgement(*, session: Session, school_ids: Sequence[int] | None) -> list[tuple[Escalation, Incident]]:
    """Incidents at these schools (None: all) whose escalation nobody has acknowledged yet, most serious first:
    the DSL's starting page."""
    query = (
        select(Escalation, Incident)
        .join(Incident, Incident.id == Escalation.incident_id)
        .where(Escalation.status.in_([EscalationStatus.awaiting_ack, EscalationStatus.exhausted]))
    )
    if school_ids is not None:
        query = query.where(Escalation.school_id.in_(school_ids))
    return [(row[0], row[1]) for row in session.execute(query.order_by(Escalation.level.desc(), Escalation.started_at))]
