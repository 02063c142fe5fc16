"""Signed acknowledgement links, signed webhooks to a real local HTTP server, failures recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import free_port
from incidents import factories
from notify.receiver import webhook_receiver
from sqlalchemy.orm import Session, sessionmaker

from console.notify import flows, service
from console.notify.models import Channel
from console.settings import Settings
from console.store import transaction

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_ack_links_are_signed_and_expire(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 40, ack_link_days=2)
    token = service.sign_ack_link(settings=settings, escalation_id=7, contact_id=3, now=NOW)
    assert service.read_ack_link(settings=settings, token=token, now=NOW + timedelta(days=1)) == (7, 3)
    with pytest.raises(service.LinkError, match="has expired"):
        service.read_ack_link(settings=settings, token=token, now=NOW + timedelta(days=2, seconds=1))
    with pytest.raises(service.LinkError, match="not valid"):
        service.read_ack_link(settings=settings, token=token[:-2] + "xx", now=NOW)
    other = Settings(data_dir=tmp_path, secret_key="o" * 40)
    with pytest.raises(service.LinkError, match="not valid"):
        service.read_ack_link(settings=other, token=token, now=NOW)


def test_webhooks_are_signed_and_every_attempt_recorded(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with webhook_receiver(statuses=[204, 500]) as receiver:
        with transaction(sessions) as session:
            school = factories.school(session)
            assert flows.enqueue_webhook(session=session, school_id=school.id, event="incident.created", payload={},
                                         object_type="incident", object_id=1, now=NOW) is None  # none configured
            with pytest.raises(ValueError, match="must start with http"):
                service.set_webhook(session=session, school_id=school.id, url="ftp://x", secret="s" * 20)
            with pytest.raises(ValueError, match="at least 16 characters"):
                service.set_webhook(session=session, school_id=school.id, url=receiver.url, secret="short")
            service.set_webhook(session=session, school_id=school.id, url=receiver.url, secret="w" * 20)
            first = flows.enqueue_webhook(session=session, school_id=school.id, event="incident.created",
                                          payload={"id": 1, "risk": 5}, object_type="incident", object_id=1, now=NOW)
            flows.enqueue_webhook(session=session, school_id=school.id, event="incident.created", payload={"id": 2},
                                  object_type="incident", object_id=2, now=NOW + timedelta(seconds=1))
            assert first is not None
        ok, failed = flows.send_webhooks(sessions=sessions, settings=settings, clock=lambda: NOW + timedelta(seconds=2))
        with transaction(sessions) as session:
            mail = flows.deliver_email(session=session, settings=Settings(data_dir=tmp_path, smtp_port=free_port()),
                                       to="dsl@x.example", subject="s", text="t", object_type="incident", object_id=1,
                                       now=NOW)
            assert ok.ok and ok.channel == Channel.webhook and ok.target == receiver.url
            assert ok.subject == "incident.created"
            assert not failed.ok and "500" in failed.error
            assert not mail.ok and "ConnectionRefusedError" in mail.error
            assert [d.id for d in service.deliveries(session=session, object_type="incident", object_id=1)] \
                == [ok.id, mail.id]

    call = receiver.calls[0]
    assert call.json == {"event": "incident.created", "data": {"id": 1, "risk": 5}}
    assert call.signed_with("w" * 20) and call.headers[flows.MESSAGE_ID_HEADER] == str(first.id)
