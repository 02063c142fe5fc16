"""The school's case system hears of an incident only once it is committed, through the webhook outbox, sent by
the web console's sender thread: signed as before, retried, and a call given up is shown to officers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from conftest import free_port
from incidents import factories
from incidents.servers import smtp_server, wait_for, web_server
from notify.receiver import Call, webhook_receiver
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.incidents.models import Incident
from console.ingest.streams import LiveStreams
from console.notify import flows as notify
from console.notify import service as notify_service
from console.notify.models import WebhookMessage
from console.people import service as people
from console.people.models import Role
from console.settings import Settings
from console.store import transaction, utcnow
from console.web.app import create_app

SECRET = "case-system-secret-1"


def _seed(sessions: sessionmaker[Session], url: str) -> tuple[str, int, int]:
    """Hillside (contacts, webhook) with an alert, Lakeside (webhook, no contacts) with an alert, an officer."""
    now = utcnow()
    with transaction(sessions) as session:
        hillside = factories.school(session)
        factories.contacts(session, hillside, now)
        notify_service.set_webhook(session=session, school_id=hillside.id, url=url, secret=SECRET)
        lakeside = factories.school(session, "Lakeside School")
        notify_service.set_webhook(session=session, school_id=lakeside.id, url=url, secret=SECRET)
        alert = factories.alert(session, hillside, at=now - timedelta(minutes=2))
        refused = factories.alert(session, lakeside, at=now - timedelta(minutes=2))
        officer = people.create(session=session, username="officer", password="a long password 1", role=Role.officer)
        token = people.create_api_token(session=session, user=officer, name="test")[0]
        return token, alert.id, refused.id


def _messages(sessions: sessionmaker[Session]) -> list[WebhookMessage]:
    with transaction(sessions) as session:
        return list(session.scalars(select(WebhookMessage).order_by(WebhookMessage.id)))


def test_the_incident_webhook_is_sent_after_commit_and_never_for_a_refused_one(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    def committed(call: Call) -> bool | None:
        """Whether what the call announces is in the database, seen from another connection as it arrives."""
        if call.json["event"] != "incident.created":
            return None
        with transaction(sessions) as session:
            return session.get(Incident, call.json["data"]["id"]) is not None

    with webhook_receiver(on_call=committed) as receiver, smtp_server() as (mailbox, smtp_port):
        token, alert_id, refused_id = _seed(sessions, receiver.url)
        settings = Settings(data_dir=tmp_path, secret_key="k" * 40, smtp_port=smtp_port)
        with web_server(create_app(settings=settings, sessions=sessions, streams=LiveStreams()), free_port()) as base:
            client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            # Lakeside has no escalation contacts: refused, rolled back, and its webhook is never called.
            refused = client.post("/api/incidents", json={"alert_ids": [refused_id], "summary": "x",
                                                          "category": "self_harm", "risk": 5})
            assert refused.status_code == 422 and "no escalation contacts" in refused.text
            reply = client.post("/api/incidents", json={"alert_ids": [alert_id], "summary": "Stated intent.",
                                                        "category": "self_harm", "risk": 5})
            assert reply.status_code == 201, reply.text
            incident_id = reply.json()["id"]
            wait_for(lambda: len(receiver.calls) >= 2 and _messages(sessions) == [])
            page = client.get(f"/incidents/{incident_id}").text
        assert notify.send_webhooks(sessions=sessions, settings=settings) == []  # nothing else was queued

    created, notified = sorted(receiver.calls, key=lambda call: call.json["event"] != "incident.created")
    assert created.seen is True  # the incident was committed before its webhook left
    assert created.signed_with(SECRET) and notified.signed_with(SECRET)
    assert created.json["event"] == "incident.created" and created.json["data"]["id"] == incident_id
    assert created.json["data"]["summary"] == "Stated intent."
    assert notified.json["event"] == "escalation.notified" and notified.json["data"]["incident_id"] == incident_id
    assert notified.json["data"]["contact"] == "Dana Lead" and "ack_due_at" in notified.json["data"]
    assert len(receiver.calls) == 2 and len(mailbox.messages) == 1
    assert page.count(receiver.url) == 2 and "webhook failing" not in page  # both calls in the delivery log


def test_a_webhook_given_up_is_shown_to_officers_and_can_be_sent_again(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with webhook_receiver(statuses=[500, 500]) as receiver, smtp_server() as (_mailbox, smtp_port):
        token, alert_id, _ = _seed(sessions, receiver.url)
        settings = Settings(data_dir=tmp_path, secret_key="k" * 40, smtp_port=smtp_port, webhook_max_attempts=1)
        with web_server(create_app(settings=settings, sessions=sessions, streams=LiveStreams()), free_port()) as base:
            client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            assert 'hx-get="/webhooks/failing"' in client.get("/alerts").text  # on the officers' dashboard
            assert "Webhook failing" not in client.get("/webhooks/failing").text
            reply = client.post("/api/incidents", json={"alert_ids": [alert_id], "summary": "Stated intent.",
                                                        "category": "self_harm", "risk": 5})
            assert reply.status_code == 201, reply.text
            incident_id = reply.json()["id"]
            wait_for(lambda: [m.gave_up_at is not None for m in _messages(sessions)] == [True, True])

            panel = client.get("/webhooks/failing").text
            assert "Webhook failing" in panel and "Hillside Academy" in panel and "2 given up" in panel
            assert "500 Internal Server Error" in panel
            assert "webhook failing: not received" in client.get(f"/incidents/{incident_id}").text
            listing = client.get("/webhooks").text
            assert f"incident {incident_id}" in listing and "Send again" in listing

            # The school's system works again: the officer sends both again; each arrives once.
            for message in _messages(sessions):
                assert client.post(f"/webhooks/{message.id}/resend", follow_redirects=False).status_code == 303
            wait_for(lambda: _messages(sessions) == [])
            assert "Webhook failing" not in client.get("/webhooks/failing").text
            assert client.post("/webhooks/999999/dismiss").status_code == 404
    assert sorted(receiver.events()) == ["escalation.notified", "escalation.notified",
                                         "incident.created", "incident.created"]
    with transaction(sessions) as session:
        oks = [d.ok for d in notify_service.deliveries(session=session, object_type="incident", object_id=incident_id)]
        assert oks == [False, True]
