"""Escalation rules: the digest for lower levels, a school's own rules, contacts exhausted, no contacts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from incidents import factories
from incidents.servers import Mailbox, smtp_server
from sqlalchemy.orm import Session, sessionmaker

from console.escalation import flows, service
from console.escalation.models import EscalationStatus
from console.incidents import flows as incident_flows
from console.incidents.models import IncidentCreate
from console.settings import Settings
from console.store import transaction

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


def test_digest_school_rules_and_exhaustion(sessions: sessionmaker[Session], smtp: tuple[Mailbox, int],
                                            tmp_path: Path) -> None:
    mailbox, port = smtp
    settings = Settings(data_dir=tmp_path, smtp_port=port, secret_key="k" * 40)

    def send_at(minutes: int) -> None:
        flows.send_pending(sessions=sessions, settings=settings, clock=lambda: NOW + timedelta(minutes=minutes))

    with transaction(sessions) as session:
        school = factories.school(session)
        factories.contacts(session, school, NOW)
        service.set_rule(session=session, school_id=school.id, level=4, ack_minutes=5, actor="admin", now=NOW)
        with pytest.raises(service.EscalationError, match="risk levels are 1 to 5"):
            service.set_rule(session=session, school_id=school.id, level=9, ack_minutes=5, actor="admin", now=NOW)
        with pytest.raises(service.EscalationError, match="at least one minute"):
            service.set_rule(session=session, school_id=school.id, level=4, ack_minutes=0, actor="admin", now=NOW)

        def raise_(pupil: str, risk: int):
            alert = factories.alert(session, school, pupil=pupil, at=NOW, risk=risk, screenshot=False)
            return incident_flows.raise_incident(session=session, settings=settings, actor="o", now=NOW,
                                                 data=IncidentCreate(alert_ids=[alert.id], summary="s",
                                                                     category="bullying", risk=risk))

        low_a, low_b, four = raise_("a", 3), raise_("b", 2), raise_("c", 4)
    send_at(0)
    assert [m["To"] for m in mailbox.messages] == ["dsl@hillside.example"]  # only level 4 at once
    send_at(0)
    assert len(mailbox.messages) == 1  # sent once: a second run finds nothing pending
    with transaction(sessions) as session:
        assert flows.send_digests(session=session, settings=settings, now=NOW) == 1
        digest = mailbox.messages[-1]
        assert "Daily digest" in digest["Subject"] and digest["To"] == "dsl@hillside.example"
        body = digest.get_body(("plain",)).get_content()
        assert f"incident {low_a.id}" in body and f"incident {low_b.id}" in body and f"incident {four.id}" not in body
        assert flows.send_digests(session=session, settings=settings, now=NOW) == 0
        assert {e.status for i in (low_a, low_b) for e in service.for_incident(session=session, incident_id=i.id)} \
            == {EscalationStatus.digested}

    # The school's five-minute rule for level 4: each contact in turn, then exhausted and overdue.
    for minutes in (5, 10):
        with transaction(sessions) as session:
            flows.advance(session=session, settings=settings, now=NOW + timedelta(minutes=minutes))
        send_at(minutes)
    assert [m["To"] for m in mailbox.messages if "Level 4" in m["Subject"]] == [
        "dsl@hillside.example", "deputy@hillside.example", "head@hillside.example"]
    with transaction(sessions) as session:
        flows.advance(session=session, settings=settings, now=NOW + timedelta(minutes=15))
        [escalation] = service.for_incident(session=session, incident_id=four.id)
        assert escalation.status == EscalationStatus.exhausted
        assert service.overdue(session=session, now=NOW + timedelta(minutes=15)) == [escalation]


def test_a_school_without_contacts_cannot_escalate(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with transaction(sessions) as session:
        school = factories.school(session)
        with pytest.raises(service.EscalationError, match="at least one escalation contact"):
            service.set_contacts(session=session, school_id=school.id, contacts=[], actor="admin", now=NOW)
        alert = factories.alert(session, school, at=NOW)
        with pytest.raises(service.EscalationError, match="has no escalation contacts: add its DSL first"):
            incident_flows.raise_incident(session=session, settings=settings, actor="o", now=NOW, data=IncidentCreate(
                alert_ids=[alert.id], summary="s", category="self_harm", risk=5))
