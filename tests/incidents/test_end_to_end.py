"""Acceptance: a level-5 alert becomes an incident, is escalated by real email, acknowledged through the
link on the real web console, and its case is worked to closure, with chronology and audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from incidents import factories
from incidents.servers import Mailbox, smtp_server, web_server
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.audit.models import AuditEntry
from console.audit.service import verify
from console.cases import service as cases
from console.cases.models import CaseStatus, CaseType, DecisionCreate, TaskCreate
from console.escalation import flows as escalation
from console.escalation import service as escalation_service
from console.escalation.models import EscalationStatus
from console.incidents import flows as incidents
from console.incidents.models import IncidentCreate
from console.ingest.streams import LiveStreams
from console.people.models import Role, User
from console.settings import Settings
from console.store import transaction, utcnow
from console.web.app import create_app

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/escalation/ack/\S+)")


def next_working_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


def test_level_5_alert_to_closed_case(sessions: sessionmaker[Session], smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    web_port = free_port()
    t0 = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    mailbox, smtp_port = smtp
    with transaction(sessions) as session:
        settings = Settings(data_dir=tmp_path, database_url=str(sessions.kw["bind"].url), secret_key="k" * 40,
                            smtp_port=smtp_port, public_url=f"http://127.0.0.1:{web_port}")
        school = factories.school(session)
        factories.contacts(session, school, t0)
        officer = User(username="o.fficer", role=Role.officer)
        session.add(officer)
        alert = factories.alert(session, school, at=t0 - timedelta(minutes=5))
        incident = incidents.raise_incident(
            session=session, settings=settings, actor="o.fficer", now=t0,
            data=IncidentCreate(alert_ids=[alert.id], summary="Pupil typed an intent to self-harm tonight.",
                                category="self_harm", risk=5, actions="Speak to the pupil today; call home."),
        )
    incident_id, case_id = incident.id, incident.case_id
    # Nothing is sent inside the transaction that raised it: the email goes once it has committed.
    assert mailbox.messages == []
    [sent] = escalation.send_pending(sessions=sessions, settings=settings, clock=lambda: t0)
    assert sent.ok and sent.target == "dsl@hillside.example"

    # The DSL is emailed at once, with the report attached and a signed link.
    [to_dsl] = mailbox.to("dsl@hillside.example")
    assert "Level 5 incident" in to_dsl["Subject"] and "within 15 minutes" in to_dsl["Subject"]
    [pdf] = [part for part in to_dsl.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_content().startswith(b"%PDF")

    # No acknowledgement: nothing happens before the 15 minutes are up, then the deputy is asked.
    with transaction(sessions) as session:
        assert escalation.advance(session=session, settings=settings, now=t0 + timedelta(minutes=14)) == []
        assert mailbox.to("deputy@hillside.example") == []
        assert [e.incident_id for e in escalation_service.overdue(session=session, now=t0 + timedelta(minutes=16))] \
            == [incident_id]
        assert len(escalation.advance(session=session, settings=settings, now=t0 + timedelta(minutes=16))) == 1
    assert mailbox.to("deputy@hillside.example") == []
    escalation.send_pending(sessions=sessions, settings=settings, clock=lambda: t0 + timedelta(minutes=16))
    [to_deputy] = mailbox.to("deputy@hillside.example")
    link = LINK.search(to_deputy.get_body(("plain",)).get_content()).group(1)

    # The deputy follows the link on the real console: the GET only shows the form, the POST acknowledges.
    with web_server(create_app(settings=settings, sessions=sessions, streams=LiveStreams()), web_port):
        page = httpx.get(link)
        assert page.status_code == 200 and "Acknowledge" in page.text
        with transaction(sessions) as session:
            assert escalation_service.for_incident(session=session, incident_id=incident_id)[0].status \
                == EscalationStatus.awaiting_ack
        done = httpx.post(link)
        assert done.status_code == 200 and "Derek Deputy" in done.text
        assert "already" in httpx.post(link).text
        forged = httpx.post(link[:-3] + "abc")
        assert forged.status_code == 410 and "not valid" in forged.text

    now = utcnow()
    with transaction(sessions) as session:
        [record] = escalation_service.for_incident(session=session, incident_id=incident_id)
        assert record.status == EscalationStatus.acknowledged
        assert record.acknowledged_by == "Derek Deputy <deputy@hillside.example>"
        assert escalation_service.overdue(session=session, now=now) == []
        assert escalation.advance(session=session, settings=settings, now=now + timedelta(hours=1)) == []

        # The case: child protection at level 5 is due one working day after it opened.
        case = cases.get(session=session, case_id=case_id)
        assert case.type == CaseType.child_protection and case.severity == 5
        assert case.due_on == next_working_day(t0.date())
        officer = session.scalar(select(User).where(User.username == "o.fficer"))
        cases.allocate(session=session, case=case, owner=officer, actor="manager", now=now)
        cases.advance(session=session, case=case, to=CaseStatus.investigating, actor="o.fficer", now=now)
        task = cases.add_task(session=session, case=case, actor="o.fficer", now=now,
                              data=TaskCreate(title="Call parents", due_on=case.due_on))
        cases.record_decision(session=session, case=case, actor="o.fficer", now=now,
                              data=DecisionCreate(decision="Refer to CAMHS", rationale="Stated intent and a plan"))
        cases.advance(session=session, case=case, to=CaseStatus.action_taken, actor="o.fficer", now=now)
        cases.complete_task(session=session, case=case, task_id=task.id, actor="o.fficer", now=now)
        cases.close(session=session, case=case, outcome="Referred to CAMHS; safety plan agreed", actor="o.fficer",
                    now=now)

        chronology = [(entry.kind, entry.text) for entry in cases.chronology(session=session, case=case)]
        kinds = [kind for kind, _ in chronology]
        assert kinds == ["opened", "incident", "escalation", "escalation", "escalation", "escalation", "allocated",
                         "status", "task", "decision", "status", "task", "closed"]
        texts = "\n".join(text for _, text in chronology)
        assert "dsl Dana Lead emailed" in texts
        assert "not acknowledged by Dana Lead within 15 minutes: escalated to Derek Deputy" in texts
        assert "acknowledged by deputy Derek Deputy" in texts

        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        for expected in ("incident.create", "escalation.start", "escalation.notify", "escalation.acknowledge",
                         "case.opened", "case.allocated", "case.decision", "case.closed"):
            assert expected in actions
        assert actions.count("escalation.notify") == 2
        checked, breaks = verify(session=session)
        assert checked == len(actions) and breaks == []
