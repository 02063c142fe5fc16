"""Side effects of reports: the monthly run after each month ends, and emailing the school's DSLs."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.notify.flows import Attachment, deliver_email
from console.people.models import Role, User
from console.reports import documents, service
from console.reports.models import StoredReport
from console.schools.models import School
from console.settings import Settings
from console.store import transaction

log = logging.getLogger(__name__)


def dsl_addresses(*, session: Session, school_id: int) -> list[str]:
    """The school's active DSL and deputies with an email address."""
    return list(
        session.scalars(
            select(User.email)
            .where(
                User.role == Role.dsl, User.school_id == school_id, User.active.is_(True), User.email != ""
            )
            .order_by(User.deputy, User.email)
        )
    )


def send_monthly(*, session: Session, settings: Settings, stored: StoredReport, now: datetime) -> int:
    """Email the report (PDF attached, link to the page) to the school's DSLs; return how many received it."""
    document = documents.stored_document(stored)
    attachment = Attachment(f"safeguard-{stored.month}.pdf", "application/pdf", documents.pdf(document))
    link = f"{settings.public_url.rstrip('/')}/reports/monthly/{stored.school_id}/{stored.month}"
    facts = "\n".join(f"{label}: {value}" for label, value in document.facts)
    delivered = 0
    for address in dsl_addresses(session=session, school_id=stored.school_id):
        delivery = deliver_email(
            session=session,
            settings=settings,
            to=address,
            subject=document.title + f" ({stored.month})",
            text=f"{document.title}\n{document.subtitle}\n\n{facts}\n\nThe full report: {link}\n",
            object_type="report",
            object_id=stored.id,
            now=now,
            attachments=(attachment,),
        )
        delivered += delivery.ok
    if delivered:
        stored.sent_at = now
    return delivered


def monthly_run(*, sessions: sessionmaker[Session], settings: Settings, now: datetime) -> None:
    """Make each school's report for the month just ended if it is missing, and email it if not yet sent.

    Run daily: a console that was down at month end catches up, and a failed email is retried."""
    tz = ZoneInfo(settings.report_timezone)
    month = service.previous_month(now, tz)
    with transaction(sessions) as session:
        school_ids = list(session.scalars(select(School.id).order_by(School.id)))
    for school_id in school_ids:
        with transaction(sessions) as session:
            stored = service.get_stored(session=session, school_id=school_id, month=month)
            if stored is None:
                stored = service.generate_monthly(
                    session=session, school_id=school_id, month=month, tz=tz, generated_by="scheduler"
                )
                log.info("monthly report %s generated for school %d", month, school_id)
            if stored.sent_at is None:
                send_monthly(session=session, settings=settings, stored=stored, now=now)
