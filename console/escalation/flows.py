"""Escalation side effects: notify the school's contacts in order until one acknowledges, and the digest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from console.audit.service import record
from console.cases import service as cases
from console.cases.models import Case
from console.escalation import service
from console.escalation.models import Contact, Escalation, EscalationStatus
from console.escalation.service import EscalationError
from console.incidents import service as incidents
from console.incidents.models import Incident
from console.notify import flows as notify
from console.notify.models import Channel, Delivery
from console.notify.service import read_ack_link, sign_ack_link
from console.schools.models import School
from console.settings import Settings
from console.store import transaction, utcnow

SYSTEM = "system"
# A pending email claimed this long ago by a sender that never recorded it (the process died) is sent again.
CLAIM_TIMEOUT = timedelta(minutes=5)


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
        _ask(escalation=escalation, contact=people[0])
    return escalation


def _ask(*, escalation: Escalation, contact: Contact) -> None:
    """Ask this contact next. Only recorded here: ``send_pending`` emails them once this transaction has
    committed, and their acknowledgement time runs from that email, not from now."""
    assert escalation.ack_minutes is not None
    escalation.contact_position = contact.position
    escalation.pending_contact_id = contact.id
    escalation.pending_claimed_at = None
    escalation.notified_at = None
    escalation.ack_due_at = None


@dataclass(frozen=True)
class _Notification:
    """One claimed email, everything needed to send it without the database."""

    escalation_id: int
    contact_id: int
    claimed_at: datetime
    contact_email: str
    contact_line: str  # "dsl Dana Lead"
    ack_minutes: int
    subject: str
    text: str
    pdf: bytes
    pdf_name: str
    school_id: int
    webhook_payload: dict  # for the school's webhook, queued once the email has been tried


def _claim(session: Session, settings: Settings, now: datetime, escalation_id: int | None) -> list[_Notification]:
    query = select(Escalation).where(
        Escalation.pending_contact_id.is_not(None),
        Escalation.status == EscalationStatus.awaiting_ack,
        or_(Escalation.pending_claimed_at.is_(None), Escalation.pending_claimed_at < now - CLAIM_TIMEOUT),
    ).order_by(Escalation.id)
    if escalation_id is not None:
        query = query.where(Escalation.id == escalation_id)
    claimed = []
    for escalation in list(session.scalars(query)):
        previous = escalation.pending_claimed_at
        taken = session.execute(
            update(Escalation)
            .where(Escalation.id == escalation.id, Escalation.pending_contact_id == escalation.pending_contact_id,
                   Escalation.pending_claimed_at.is_(None) if previous is None
                   else Escalation.pending_claimed_at == previous)
            .values(pending_claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            continue  # another sender took it first
        session.refresh(escalation)
        contact = session.get_one(Contact, escalation.pending_contact_id)
        incident = session.get_one(Incident, escalation.incident_id)
        school = session.get_one(School, incident.school_id)
        minutes = escalation.ack_minutes
        assert minutes is not None
        token = sign_ack_link(settings=settings, escalation_id=escalation.id, contact_id=contact.id, now=now)
        claimed.append(_Notification(
            escalation_id=escalation.id,
            contact_id=contact.id,
            claimed_at=now,
            contact_email=contact.email,
            contact_line=f"{contact.role.replace('_', ' ')} {contact.name}",
            ack_minutes=minutes,
            subject=(f"[Safeguard] Level {incident.risk} incident {incident.id} at {school.name}: "
                     f"acknowledge within {minutes} minutes"),
            text="\n".join([
                f"Dear {contact.name},",
                "",
                f"A level {incident.risk} safeguarding incident ({incident.category.replace('_', ' ')}) about pupil "
                f"{incident.pupil} needs your attention. The incident report is attached.",
                "",
                incident.summary,
                "",
                f"Acknowledge that you have it (within {minutes} minutes, or the next contact is asked):",
                f"{settings.public_url}/escalation/ack/{token}",
                "",
                f"Incident report: {settings.public_url}/incidents/{incident.id}",
            ]),
            pdf=incidents.report_pdf(session=session, incident=incident),
            pdf_name=f"incident-{incident.id}.pdf",
            school_id=incident.school_id,
            webhook_payload={"escalation_id": escalation.id, "incident_id": incident.id, "level": incident.risk,
                             "contact": contact.name},
        ))
    return claimed


def send_pending(
    *, sessions: sessionmaker[Session], settings: Settings, clock: Callable[[], datetime] = utcnow,
    escalation_id: int | None = None,
) -> list[Delivery]:
    """Email every contact asked but not yet emailed (or only this escalation's), outside any transaction; queue
    the school's ``escalation.notified`` webhook call (``notify.send_webhooks`` sends it).

    Three steps: claim the pending emails (a short transaction), send them (no transaction: a slow or refusing
    mail server holds nothing), then record each delivery, start its acknowledgement timer from the moment it was
    sent, and write the audit entry and chronology (a short transaction). A failed email is recorded and the timer
    still runs, so the next contact is asked in time. Run after the transaction that asked (the web console's
    sender thread) and by every escalation tick, which also takes over claims left by a process that died.
    """
    with transaction(sessions) as session:
        claimed = _claim(session, settings, clock(), escalation_id)
    deliveries = []
    for item in claimed:
        sent_at = clock()
        ack_due_at = sent_at + timedelta(minutes=item.ack_minutes)
        email_error = notify.try_email(
            settings=settings, to=item.contact_email, subject=item.subject, text=item.text,
            attachments=(notify.Attachment(item.pdf_name, "application/pdf", item.pdf),),
        )
        with transaction(sessions) as session:
            delivery = notify.record_delivery(
                session=session, channel=Channel.email, target=item.contact_email, subject=item.subject,
                error=email_error, object_type="escalation", object_id=item.escalation_id, now=sent_at,
                contact_id=item.contact_id,
            )
            deliveries.append(delivery)
            escalation = session.get(Escalation, item.escalation_id, with_for_update=True)
            if (escalation is None or escalation.pending_contact_id != item.contact_id
                    or escalation.pending_claimed_at != item.claimed_at):
                continue  # taken over meanwhile (this sender was too slow): the delivery is recorded, nothing more
            escalation.pending_contact_id = None
            escalation.pending_claimed_at = None
            escalation.notified_at = sent_at
            escalation.ack_due_at = ack_due_at
            # The school's case system hears of it through the webhook outbox, once this commits.
            notify.enqueue_webhook(session=session, school_id=item.school_id, event="escalation.notified",
                                   payload=item.webhook_payload | {"ack_due_at": ack_due_at.isoformat()},
                                   object_type="escalation", object_id=item.escalation_id, now=sent_at)
            outcome = "emailed" if not email_error else f"email FAILED ({email_error})"
            record(session=session, actor=SYSTEM, action="escalation.notify", object_type="escalation",
                   object_id=escalation.id, at=sent_at,
                   detail={"contact": item.contact_email, "ok": not email_error, "error": email_error})
            _chronology(session, session.get_one(Incident, escalation.incident_id),
                        f"{item.contact_line} {outcome}; acknowledgement due by {ack_due_at:%H:%M} UTC", sent_at)
    return deliveries


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
            _ask(escalation=escalation, contact=following[0])
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
