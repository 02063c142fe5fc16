"""`safeguard incident|case|records ...`: escalation set-up, the case list, and records management."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from console.commands import fail, migrated_sessions
from console.settings import Settings

incident_app = typer.Typer(help="Escalation contacts, rules and webhooks per school.", no_args_is_help=True)
case_app = typer.Typer(help="Governance cases.", no_args_is_help=True)
records_app = typer.Typer(help="Retention purge, subject access, statistics and exports.", no_args_is_help=True)




def _school_id(session: Session, name: str) -> int:
    from console.schools import service as schools

    school = schools.get_by_name(session=session, name=name)
    if school is None:
        fail(f"no school named {name!r}")
    return school.id


@incident_app.command("contacts")
def contacts(
    school: str,
    entries: Annotated[list[str] | None, typer.Argument(help='In order, each "role:Name:email", role dsl, deputy '
                                                             "or last_responder. None: show the list.")] = None,
) -> None:
    """Show or replace a school's ordered escalation contacts."""
    from console.escalation import service
    from console.escalation.models import ContactCreate
    from console.store import transaction, utcnow

    with transaction(migrated_sessions(Settings())) as session:
        school_id = _school_id(session, school)
        if entries:
            parsed = []
            for entry in entries:
                parts = entry.split(":")
                if len(parts) != 3:
                    fail(f'{entry!r}: expected "role:Name:email"')
                try:
                    parsed.append(ContactCreate(role=parts[0], name=parts[1], email=parts[2]))
                except ValidationError as error:
                    fail(f"{entry!r}: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}")
            service.set_contacts(session=session, school_id=school_id, contacts=parsed, actor="cli", now=utcnow())
        for contact in service.contacts(session=session, school_id=school_id):
            typer.echo(f"{contact.position + 1}. {contact.role}\t{contact.name} <{contact.email}>")


@incident_app.command("rule")
def rule(school: str, level: int, minutes: Annotated[str, typer.Argument(help='Minutes to acknowledge, or "digest".')]) -> None:
    """Set a school's escalation rule for one risk level."""
    from console.escalation import service
    from console.store import transaction, utcnow

    if minutes != "digest" and not minutes.isdigit():
        fail(f'minutes must be a whole number or "digest", not {minutes!r}')
    with transaction(migrated_sessions(Settings())) as session:
        try:
            service.set_rule(session=session, school_id=_school_id(session, school), level=level,
                             ack_minutes=None if minutes == "digest" else int(minutes), actor="cli", now=utcnow())
        except service.EscalationError as error:
            fail(str(error))
    typer.echo(f"level {level}: {'daily digest' if minutes == 'digest' else f'acknowledge within {minutes} minutes'}")


@incident_app.command("webhook")
def webhook(school: str, url: str, secret: Annotated[str, typer.Option(help="Shared secret that signs each call.")]) -> None:
    """Send a school's new incidents and escalations to its own case system."""
    from console.notify import service
    from console.store import transaction

    with transaction(migrated_sessions(Settings())) as session:
        try:
            service.set_webhook(session=session, school_id=_school_id(session, school), url=url, secret=secret)
        except ValueError as error:
            fail(str(error))
    typer.echo(f"webhook set: {url}")


@case_app.command("list")
def case_list(
    school: Annotated[str | None, typer.Option(help="Only this school.")] = None,
    flagged: Annotated[bool, typer.Option(help="Only overdue and due-soon cases.")] = False,
) -> None:
    """Open cases with their deadlines, overdue and due-soon flagged."""
    from console.cases import service
    from console.store import transaction, utcnow

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        school_ids = [_school_id(session, school)] if school else None
        for case in service.list_cases(session=session, school_ids=school_ids, open_only=True):
            flag = service.flag(case=case, today=utcnow().date(), settings=settings)
            if flag or not flagged:
                typer.echo(f"{case.id}\t{case.due_on}\t{flag or ''}\t{case.status}\t{case.type}/{case.severity}\t"
                           f"{case.title}")


@records_app.command("purge")
def purge() -> None:
    """Delete every record past its retention now (as the nightly job does) and print what went."""
    from console.records import service
    from console.store import transaction, utcnow

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        run = service.purge(session=session, settings=settings, now=utcnow(), actor="cli",
                            date_of_birth=service.register_date_of_birth(session))
    typer.echo(", ".join(f"{n} {kind}" for kind, n in run.counts.items()))
    for case_id, why in run.kept.get("cases", {}).items():
        typer.echo(f"kept case {case_id}: {why}")


@records_app.command("subject-access")
def subject_access(school: str, pupil: str, out: Path) -> None:
    """Write everything held about one pupil to a ZIP."""
    from console.records import service
    from console.store import transaction, utcnow

    with transaction(migrated_sessions(Settings())) as session:
        try:
            archive = service.subject_access_export(session=session, school_id=_school_id(session, school),
                                                    pupil=pupil, actor="cli", now=utcnow())
        except service.RecordsError as error:
            fail(str(error))
    out.write_bytes(archive)
    typer.echo(f"wrote {out} ({len(archive)} bytes)")


@records_app.command("statistics")
def statistics(
    start: Annotated[datetime, typer.Option(help="From (UTC), e.g. 2026-01-01.")],
    end: Annotated[datetime, typer.Option(help="Until (UTC), exclusive.")],
) -> None:
    """Anonymised counts for an information request, as CSV on standard output."""

    from console.records import service
    from console.store import transaction

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        try:
            rows = service.statistics(session=session, start=start.replace(tzinfo=UTC),
                                      end=end.replace(tzinfo=UTC), min_count=settings.statistics_min_count)
        except service.RecordsError as error:
            fail(str(error))
    typer.echo(service.to_csv(rows, ("measure", "value", "count")), nl=False)
