"""Escalation emails leave after the request that raised the incident has answered: a slow or refusing mail
server never holds the officer's request, and its failure is recorded with the acknowledgement timer running."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from incidents import factories
from incidents.servers import Mailbox, RefusingMailbox, SlowMailbox, smtp_server, wait_for, web_server
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.audit.models import AuditEntry
from console.cases.models import CaseEntry
from console.escalation import service as escalation
from console.escalation.models import EscalationStatus
from console.ingest.streams import LiveStreams
from console.notify import service as notify
from console.people import service as people
from console.people.models import Role
from console.settings import Settings
from console.store import transaction, utcnow
from console.web.app import create_app

SMTP_TIMEOUT = 4.0


@pytest.mark.parametrize(("server", "expected_error"), [
    (SlowMailbox(delay_seconds=SMTP_TIMEOUT * 3), "timed out"),
    (RefusingMailbox(), "Relaying denied"),
], ids=["slow", "refusing"])
def test_raising_answers_at_once_and_the_failed_email_is_recorded(
    sessions: sessionmaker[Session], tmp_path: Path, server: Mailbox, expected_error: str
) -> None:
    now = utcnow()
    with transaction(sessions) as session:
        school = factories.school(session)
        factories.contacts(session, school, now)
        alert = factories.alert(session, school, at=now - timedelta(minutes=2))
        officer = people.create(session=session, username="officer", password="a long password 1", role=Role.officer)
        token = people.create_api_token(session=session, user=officer, name="test")[0]
        alert_id = alert.id

    with smtp_server(server) as (mailbox, port):
        settings = Settings(data_dir=tmp_path, secret_key="k" * 40, smtp_port=port, smtp_timeout_seconds=SMTP_TIMEOUT)
        with web_server(create_app(settings=settings, sessions=sessions, streams=LiveStreams()), free_port()) as base:
            client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            started = time.monotonic()
            reply = client.post("/api/incidents", json={"alert_ids": [alert_id], "summary": "Stated intent.",
                                                        "category": "self_harm", "risk": 5})
            elapsed = time.monotonic() - started
            answered_at = utcnow()
            assert reply.status_code == 201, reply.text
            # Answered before the mail server was even given up on: nothing waited for it.
            assert elapsed < SMTP_TIMEOUT, elapsed
            incident_id = reply.json()["id"]

            def delivered() -> list:
                with transaction(sessions) as session:
                    [record] = escalation.for_incident(session=session, incident_id=incident_id)
                    return notify.deliveries(session=session, object_type="escalation", object_id=record.id)

            wait_for(delivered, timeout=SMTP_TIMEOUT + 30)
            page = client.get(f"/incidents/{incident_id}")
            assert page.status_code == 200 and expected_error in page.text  # the delivery log

    assert mailbox.messages == []
    with transaction(sessions) as session:
        [record] = escalation.for_incident(session=session, incident_id=incident_id)
        [delivery] = notify.deliveries(session=session, object_type="escalation", object_id=record.id)
        assert not delivery.ok and expected_error in delivery.error, delivery.error
        assert delivery.target == "dsl@hillside.example" and delivery.at >= answered_at - timedelta(seconds=1)
        # The acknowledgement timer runs from the attempt, failed or not, so the deputy is asked in time.
        assert record.status == EscalationStatus.awaiting_ack and record.pending_contact_id is None
        assert record.notified_at == delivery.at and record.ack_due_at == delivery.at + timedelta(minutes=15)
        assert escalation.overdue(session=session, now=delivery.at + timedelta(minutes=16)) == [record]
        notified = session.scalar(select(AuditEntry).where(AuditEntry.action == "escalation.notify"))
        assert notified.detail["ok"] is False and expected_error in notified.detail["error"]
        texts = session.scalars(select(CaseEntry.text).where(CaseEntry.kind == "escalation")).all()
        assert any("dsl Dana Lead email FAILED" in text for text in texts), texts
