"""The `safeguard` command: run the console, the demo, and administer schools and devices."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from console.commands import fail, migrated_sessions
from console.cases.cli import case_app, incident_app, records_app
from console.detect.cli import rules_app, scan
from console.webfilter.cli import webfilter_app
from console.detect.model_cli import model_app
from console.reports.cli import report_app
from console.schools.models import Phase
from console.settings import Settings

app = typer.Typer(help="Safeguard: safeguarding monitoring for schools.", no_args_is_help=True)
school_app = typer.Typer(help="Schools and their enrolment tokens.", no_args_is_help=True)
device_app = typer.Typer(help="Enrolled devices.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
policy_app = typer.Typer(help="Capture policies pushed to agents.", no_args_is_help=True)
app.add_typer(school_app, name="school")
app.add_typer(device_app, name="device")
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(rules_app, name="rules")
app.add_typer(model_app, name="model")
app.add_typer(report_app, name="report")
app.add_typer(incident_app, name="incident")
app.add_typer(case_app, name="case")
app.add_typer(records_app, name="records")
app.command("scan")(scan)
app.add_typer(webfilter_app, name="webfilter")


def _logging(role: str = "cli", settings: Settings | None = None) -> None:
    from console.logging import configure

    configure(role=role, style=settings.log_format if settings is not None else "text")




@app.command()
def serve(web: Annotated[bool, typer.Option(help="Also serve the web console.")] = True) -> None:
    """Run the console: agent gRPC service and web console."""
    from console.runtime import Console

    settings = Settings()
    _logging("console", settings)
    asyncio.run(Console(settings).run(web=web))


@app.command()
def worker(
    metrics_port: Annotated[int, typer.Option(help="Serve Prometheus /metrics at this port (0 = off).")] = 0,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics port listens on.")] = "127.0.0.1",
) -> None:
    """Run a detection worker: take batches from NATS JetStream, store and detect (bus = nats)."""
    from console.worker import run_worker

    settings = Settings()
    _logging("worker", settings)
    asyncio.run(run_worker(settings, metrics_host=metrics_host, metrics_port=metrics_port))


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its database and keys.")] = Path("safeguard-demo"),
    agents: Annotated[int, typer.Option(help="Simulated pupils' devices.")] = 4,
    rate: Annotated[float, typer.Option(help="Events per second per simulated device.")] = 0.5,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0 = until Ctrl-C).")] = 0,
    web_port: Annotated[int, typer.Option(help="Web console port.")] = 8080,
) -> None:
    """Run the console with a simulated school (SQLite, no other server) and print the URL to open."""
    from console.demo import run_demo

    _logging()
    asyncio.run(run_demo(data_dir=data_dir, agents=agents, rate=rate, duration=duration, web_port=web_port))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    migrated_sessions(Settings())
    typer.echo("database is up to date")


@school_app.command("create")
def school_create(name: str, phase: Annotated[Phase, typer.Option(help="primary or secondary")]) -> None:
    """Create a school."""
    from console.schools import service as schools
    from console.store import transaction

    with transaction(migrated_sessions(Settings())) as session:
        if schools.get_by_name(session=session, name=name) is not None:
            fail(f"a school named {name!r} already exists")
        school = schools.create(session=session, name=name, phase=phase)
        typer.echo(f"created school {school.id}: {school.name} ({school.phase})")


@school_app.command("token")
def school_token(
    school: str,
    days: Annotated[int | None, typer.Option(help="Days until it expires (default: setting).")] = None,
    uses: Annotated[int, typer.Option(help="How many devices may enrol with it.")] = 1,
) -> None:
    """Create an enrolment token for a school's devices; it is shown once."""
    from console.schools import service as schools
    from console.store import transaction

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        record = schools.get_by_name(session=session, name=school)
        if record is None:
            fail(f"no school named {school!r}")
        token = schools.create_enrolment_token(
            session=session, school=record, days=days or settings.enrolment_token_days, max_uses=uses, created_by="cli"
        )
    typer.echo(token)


@school_app.command("revoke-token")
def school_revoke_token(token: str) -> None:
    """Revoke an enrolment token."""
    from console.schools import service as schools
    from console.store import transaction

    with transaction(migrated_sessions(Settings())) as session:
        if not schools.revoke_enrolment_token(session=session, token=token):
            fail("no such enrolment token")
    typer.echo("revoked")


@device_app.command("revoke")
def device_revoke(device_id: str, reason: Annotated[str, typer.Option(help="Why (kept with the device).")]) -> None:
    """Revoke a device: its stream is refused from now on."""
    from console.devices import service as devices
    from console.store import transaction

    with transaction(migrated_sessions(Settings())) as session:
        if devices.revoke(session=session, device_id=device_id, reason=reason) is None:
            fail(f"no device {device_id}")
    typer.echo(f"revoked {device_id}")


@device_app.command("silent")
def device_silent(school: Annotated[str | None, typer.Option(help="Only this school.")] = None) -> None:
    """List devices not heard from within the silent_after_minutes setting."""
    from datetime import timedelta

    from console.devices import service as devices
    from console.schools import service as schools
    from console.store import transaction

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        school_id = None
        if school is not None:
            record = schools.get_by_name(session=session, name=school)
            if record is None:
                fail(f"no school named {school!r}")
            school_id = record.id
        for device in devices.silent(
            session=session, school_id=school_id, silent_after=timedelta(minutes=settings.silent_after_minutes)
        ):
            seen = device.last_seen_at.isoformat() if device.last_seen_at else "never"
            typer.echo(f"{device.id}\t{device.hostname}\tschool {device.school_id}\tlast seen {seen}")


@policy_app.command("set")
def policy_set(school: str, changes: Annotated[str, typer.Argument(help='JSON, e.g. {"captureText": false}')]) -> None:
    """Change a school's capture policy; connected agents receive it within seconds."""
    from console.policies import service as policies
    from console.schools import service as schools
    from console.store import transaction

    try:
        parsed = json.loads(changes)
    except json.JSONDecodeError as error:
        fail(f"the changes are not JSON: {error}")
    with transaction(migrated_sessions(Settings())) as session:
        record = schools.get_by_name(session=session, name=school)
        if record is None:
            fail(f"no school named {school!r}")
        try:
            policy = policies.update(session=session, school_id=record.id, changes=parsed, updated_by="cli")
        except policies.PolicyError as error:
            fail(str(error))
    typer.echo(f"policy version {policy.version}")


user_app = typer.Typer(help="Console users: officers, DSLs, technicians, governance, auditors, admins.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin, officer, dsl, technician, governance or auditor")],
    school: Annotated[str | None, typer.Option(help="The school of a dsl or technician.")] = None,
    consoles: Annotated[str, typer.Option(help="An officer's consoles: primary, secondary or both.")] = "primary,secondary",
    deputy: Annotated[bool, typer.Option(help="A deputy DSL.")] = False,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    email: Annotated[str, typer.Option(help="Email address.")] = "",
) -> None:
    """Create a user; the password is read from the terminal (or SAFEGUARD_NEW_PASSWORD)."""
    import os

    from console.audit.service import record
    from console.people import service as people
    from console.people.models import Role
    from console.schools import service as schools
    from console.store import transaction

    if role not in Role.__members__:
        fail(f"unknown role {role!r}: one of {', '.join(Role)}")
    password = os.environ.get("SAFEGUARD_NEW_PASSWORD") or typer.prompt("Password", hide_input=True,
                                                                         confirmation_prompt=True)
    with transaction(migrated_sessions(Settings())) as session:
        school_id = None
        if school is not None:
            found = schools.get_by_name(session=session, name=school)
            if found is None:
                fail(f"no school named {school!r}")
            school_id = found.id
        try:
            user = people.create(session=session, username=username, password=password, role=Role(role),
                                 school_id=school_id, consoles=consoles, deputy=deputy, display_name=name, email=email)
        except people.UserError as error:
            fail(str(error))
        record(session=session, actor="cli", action="create_user", object_type="user", object_id=user.id,
               detail={"username": user.username, "role": user.role, "school_id": user.school_id})
    typer.echo(f"created {role} {username}")


@user_app.command("password")
def user_password(username: str) -> None:
    """Set a user's password (and unlock the account); read from the terminal or SAFEGUARD_NEW_PASSWORD."""
    import os

    from console.audit.service import record
    from console.people import service as people
    from console.store import transaction

    password = os.environ.get("SAFEGUARD_NEW_PASSWORD") or typer.prompt("Password", hide_input=True,
                                                                         confirmation_prompt=True)
    with transaction(migrated_sessions(Settings())) as session:
        user = people.get_by_username(session=session, username=username)
        if user is None:
            fail(f"no user {username!r}")
        try:
            people.set_password(session=session, user=user, password=password)
        except people.UserError as error:
            fail(str(error))
        record(session=session, actor="cli", action="reset_password", object_type="user", object_id=user.id)
    typer.echo(f"password set for {username}")


@user_app.command("token")
def user_token(username: str, name: Annotated[str, typer.Option(help="What the token is for.")]) -> None:
    """Create an API token for a user's scripts; it is shown once."""
    from console.audit.service import record
    from console.people import service as people
    from console.store import transaction

    with transaction(migrated_sessions(Settings())) as session:
        user = people.get_by_username(session=session, username=username)
        if user is None:
            fail(f"no user {username!r}")
        try:
            token, created = people.create_api_token(session=session, user=user, name=name)
        except people.UserError as error:
            fail(str(error))
        record(session=session, actor="cli", action="create_api_token", object_type="api_token",
               object_id=created.id, detail={"user": username, "name": name})
    typer.echo(token)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 and name each broken entry if it was altered."""
    from console.audit.service import verify
    from console.store import transaction

    with transaction(migrated_sessions(Settings())) as session:
        checked, breaks = verify(session=session)
    for problem in breaks:
        typer.secho(f"entry {problem.entry_id}: {problem.problem}", fg=typer.colors.RED, err=True)
    if breaks:
        fail(f"the audit log is NOT intact: {len(breaks)} problem(s) in {checked} entries")
    typer.echo(f"the audit log is intact: {checked} entries checked")
