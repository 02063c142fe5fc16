"""Escalation side effects: notify the school's contacts in order until one acknowledges, and the digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.audit.service import record
from console.cases import service as cases
from console.cases.models import Case
from console.escalation import service
from console.escalation.models import Contact, Escalation, EscalationStatus
from console.escalation.service import EscalationError
from console.incidents import service as incidents
from console.incidents.models import Incident
from console.notify import flows as notify
from console.notify.service import read_ack_link, sign_ack_link
from console.schools.models import School
from console.settings import Settings

SYSTEM = "system"


@dataclass(frozen=True)
class Acknowledgement:
    escalation: Escalation
    contact: Contact
    already: bool  # acknowledged before this link was followed (by this contact or another)


def _chronology(session: Session, incident: Incident, text: str, now: datetime, actor: str = SYSTEM) -> None:
    case = session.get(Case, incident.case_id) if incident.case_id else None
    if case is not None:
        cases.note(session=session, case=case, actor=actor, kind="escalation", text=text, now=now)


def start(*, session: Session, settings: Settings, incident: Incident, now: datetime) -> Escalation:
    """Escalate a new incident by its school's rule for its level: notify now, or wait for the digest."""
    people = service.contacts(session=session, school_id=incident.school_id)
    if not people:
        raise EscalationError(f"school {incident.school_id} has no escalation contacts: add its DSL first")
    minutes = service.ack_minutes_for(session=session, settings=settings, school_id=incident.school_id,
                                      level=incident.risk)
    escalation = Escalation(
        incident_id=incident.id,
        school_id=incident.school_id,
        level=incident.risk,
        status=EscalationStatus.digest_pending if minutes is None else EscalationStatus.awaiting_ack,
        ack_minutes=minutes,
        started_at=now,
    )
    session.add(escalation)
    session.flush()
    record(session=session, actor=SYSTEM, action="escalation.start", object_type="escalation",
           object_id=escalation.id, detail={"incident_id": incident.id, "ack_minutes": minutes}, at=now)
    if minutes is None:
        _chronology(session, incident, f"level {incident.risk}: reported in the school's daily digest", now)
    else:
        _notify(session=session, settings=settings, escalation=escalation, incident=incident, contact=people[0], now=now)
    return escalation


def _notify(
    *, session: Session, settings: Settings, escalation: Escalation, incident: Incident, contact: Contact, now: datetime
) -> None:
    assert escalation.ack_minutes is not None
    token = sign_ack_link(settings=settings, escalation_id=escalation.id, contact_id=contact.id, now=now)
    school = session.get_one(School, incident.school_id)
    subject = (f"[Safeguard] Level {incident.risk} incident {incident.id} at {school.name}: "
               f"acknowledge within {escalation.ack_minutes} minutes")
    text = "\n".join([
        f"Dear {contact.name},",
        "",
        f"A level {incident.risk} safeguarding incident ({incident.category.replace('_', ' ')}) about pupil "
        f"{incident.pupil} needs your attention. The incident report is attached.",
        "",
        incident.summary,
        "",
        f"Acknowledge that you have it (within {escalation.ack_minutes} minutes, or the next contact is asked):",
        f"{settings.public_url}/escalation/ack/{token}",
        "",
        f"Incident report: {settings.public_url}/incidents/{incident.id}",
    ])
    pdf = incidents.report_pdf(session=session, incident=incident)
    delivery = notify.deliver_email(
        session=session, settings=settings, to=contact.email, subject=subject, text=text,
        object_type="escalation", object_id=escalation.id, contact_id=contact.id, now=now,
        attachments=(notify.Attachment(f"incident-{incident.id}.pdf", "application/pdf", pdf),),
    )
    notify.deliver_webhook(
        session=session, school_id=incident.school_id, event="escalation.notified",
        payload={"escalation_id": escalation.id, "incident_id": incident.id, "level": incident.risk,
                 "contact": contact.name, "ack_due_at": (now + timedelta(minutes=escalation.ack_minutes)).isoformat()},
        object_type="escalation", object_id=escalation.id, now=now,
    )
    escalation.contact_position = contact.position
    escalation.notified_at = now
    escalation.ack_due_at = now + timedelta(minutes=escalation.ack_minutes)
    outcome = "emailed" if delivery.ok else f"email FAILED ({delivery.error})"
    record(session=session, actor=SYSTEM, action="escalation.notify", object_type="escalation",
           object_id=escalation.id, detail={"contact": contact.email, "ok": delivery.ok, "error": delivery.error}, at=now)
    _chronology(session, incident, f"{contact.role.replace('_', ' ')} {contact.name} {outcome}; "
                f"acknowledgement due by {escalation.ack_due_at:%H:%M} UTC", now)


def advance(*, session: Session, settings: Settings, now: datetime) -> list[Escalation]:
    """Ask the next contact for every escalation whose acknowledgement time has run out."""
    lapsed = list(session.scalars(
        select(Escalation).where(Escalation.status == EscalationStatus.awaiting_ack, Escalation.ack_due_at <= now)
        .order_by(Escalation.id).with_for_update()
    ))
    for escalation in lapsed:
        incident = session.get_one(Incident, escalation.incident_id)
        people = service.contacts(session=session, school_id=escalation.school_id)
        following = [contact for contact in people if contact.position > escalation.contact_position]
        missed = next((c.name for c in people if c.position == escalation.contact_position), "the last contact")
        if following:
            _chronology(session, incident, f"not acknowledged by {missed} within {escalation.ack_minutes} minutes: "
                        f"escalated to {following[0].name}", now)
            _notify(session=session, settings=settings, escalation=escalation, incident=incident,
                    contact=following[0], now=now)
        else:
            escalation.status = EscalationStatus.exhausted
            record(session=session, actor=SYSTEM, action="escalation.exhausted", object_type="escalation",
                   object_id=escalation.id, at=now)
            _chronology(session, incident, f"not acknowledged by {missed}: every contact has been asked, "
                        "the safeguarding team must phone the school", now)
    return lapsed


def send_digests(*, session: Session, settings: Settings, now: datetime) -> int:
    """One email per school to its first contact listing the incidents waiting for the digest; returns how many."""
    pending = list(session.scalars(
        select(Escalation).where(Escalation.status == EscalationStatus.digest_pending).order_by(Escalation.id)
    ))
    by_school: dict[int, list[Escalation]] = {}
    for escalation in pending:
        by_school.setdefault(escalation.school_id, []).append(escalation)
    for school_id, escalations in by_school.items():
        contact = service.contacts(session=session, school_id=school_id)[0]
        school = session.get_one(School, school_id)
        lines = [f"Dear {contact.name},", "", f"Incidents raised at {school.name} since the last digest:", ""]
        for escalation in escalations:
            incident = session.get_one(Incident, escalation.incident_id)
            lines.append(f"- incident {incident.id}, level {incident.risk}, {incident.category.replace('_', ' ')}, "
                         f"pupil {incident.pupil}: {settings.public_url}/incidents/{incident.id}")
        delivery = notify.deliver_email(
            session=session, settings=settings, to=contact.email,
            subject=f"[Safeguard] Daily digest for {school.name}: {len(escalations)} incident(s)",
            text="\n".join(lines), object_type="digest", object_id=school_id, contact_id=contact.id, now=now,
        )
        if not delivery.ok:
            continue  # stays pending: the next digest run tries again
        for escalation in escalations:
            escalation.status, escalation.notified_at = EscalationStatus.digested, now
            _chronology(session, session.get_one(Incident, escalation.incident_id),
                        f"sent to {contact.name} in the daily digest", now)
    return len(by_school)


def acknowledge(*, session: Session, settings: Settings, token: str, now: datetime) -> Acknowledgement:
    """Record the acknowledgement a contact made by following the emailed link."""
    escalation_id, contact_id = read_ack_link(settings=settings, token=token, now=now)
    escalation = session.get(Escalation, escalation_id, with_for_update=True)
    contact = session.get(Contact, contact_id)
    if escalation is None or contact is None or contact.school_id != escalation.school_id:
        raise EscalationError("this acknowledgement link no longer matches an escalation")
    if escalation.status == EscalationStatus.acknowledged:
        return Acknowledgement(escalation, contact, already=True)
    escalation.status = EscalationStatus.acknowledged
    escalation.acknowledged_at = now
    escalation.acknowledged_by = f"{contact.name} <{contact.email}>"
    record(session=session, actor=contact.email, action="escalation.acknowledge", object_type="escalation",
           object_id=escalation.id, detail={"contact_id": contact.id, "role": str(contact.role)}, at=now)
    _chronology(session, session.get_one(Incident, escalation.incident_id),
                f"acknowledged by {contact.role.replace('_', ' ')} {contact.name}", now, actor=contact.email)
    return Acknowledgement(escalation, contact, already=False)
