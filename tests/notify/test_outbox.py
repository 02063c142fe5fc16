"""The webhook outbox against a real local HTTP endpoint, on SQLite and PostgreSQL: nothing leaves before commit
or after a rollback; failures are retried with backoff and delivered once; given up after the limit, audited; two
senders never send one call twice; a dead sender's claim is taken over."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from incidents import factories
from notify.receiver import webhook_receiver
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from console.audit.models import AuditEntry
from console.incidents import flows as incidents
from console.incidents.models import IncidentCreate
from console.notify import flows, service
from console.notify.models import Delivery, WebhookMessage
from console.scheduler import create_scheduler
from console.settings import Settings
from console.store import transaction

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET = "w" * 24


def _school(sessions: sessionmaker[Session], url: str) -> int:
    with transaction(sessions) as session:
        school = factories.school(session)
        service.set_webhook(session=session, school_id=school.id, url=url, secret=SECRET)
        return school.id


def _queue(sessions: sessionmaker[Session], school_id: int, count: int = 1, at: datetime = NOW) -> list[int]:
    with transaction(sessions) as session:
        return [flows.enqueue_webhook(session=session, school_id=school_id, event="incident.created",
                                      payload={"id": n}, object_type="incident", object_id=n, now=at).id
                for n in range(1, count + 1)]


def _send(sessions: sessionmaker[Session], settings: Settings, at: datetime) -> list[Delivery]:
    return flows.send_webhooks(sessions=sessions, settings=settings, clock=lambda: at)


def _messages(sessions: sessionmaker[Session]) -> list[WebhookMessage]:
    with transaction(sessions) as session:
        return list(session.scalars(select(WebhookMessage).order_by(WebhookMessage.id)))


def _deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with transaction(sessions) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_a_rolled_back_incident_sends_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with webhook_receiver() as receiver:
        school_id = _school(sessions, receiver.url)
        with pytest.raises(RuntimeError, match="after the incident"), transaction(sessions) as session:
            school = session.get_one(factories.School, school_id)
            factories.contacts(session, school, NOW)
            alert = factories.alert(session, school, at=NOW)
            incidents.raise_incident(session=session, settings=settings, actor="officer", now=NOW,
                                     data=IncidentCreate(alert_ids=[alert.id], summary="s", category="self_harm",
                                                         risk=5))
            assert len(list(session.scalars(select(WebhookMessage)))) == 1  # queued, in this transaction only
            raise RuntimeError("something failed after the incident was written")
        assert _send(sessions, settings, NOW + timedelta(minutes=1)) == []
    assert receiver.calls == [] and _messages(sessions) == [] and _deliveries(sessions) == []


def test_a_failing_endpoint_is_retried_with_backoff_and_delivered_once(sessions: sessionmaker[Session],
                                                                        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, webhook_retry_first_seconds=60, webhook_retry_max_seconds=3600)
    with webhook_receiver(statuses=[500, 503, 500]) as receiver:
        school_id = _school(sessions, receiver.url)
        [message_id] = _queue(sessions, school_id)
        at = NOW
        for failures, wait in enumerate([60, 120, 240], start=1):
            [failed] = _send(sessions, settings, at)
            assert not failed.ok and "50" in failed.error
            [message] = _messages(sessions)
            assert message.attempts == failures and message.claimed_at is None
            assert message.next_attempt_at == at + timedelta(seconds=wait) and message.gave_up_at is None
            assert _send(sessions, settings, at + timedelta(seconds=wait - 1)) == []  # not due yet
            at += timedelta(seconds=wait)
        [delivered] = _send(sessions, settings, at)
        assert delivered.ok
        assert _messages(sessions) == []
        assert _send(sessions, settings, at + timedelta(days=1)) == []
    # Every attempt recorded; the receiver got the same signed call four times and took it once.
    assert [d.ok for d in _deliveries(sessions)] == [False, False, False, True]
    assert [d.object_id for d in _deliveries(sessions)] == ["1"] * 4
    assert len(receiver.calls) == 4 and len({call.body for call in receiver.calls}) == 1
    assert {call.headers[flows.MESSAGE_ID_HEADER] for call in receiver.calls} == {str(message_id)}
    assert all(call.signed_with(SECRET) for call in receiver.calls)


def test_the_wait_doubles_up_to_the_longest(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, webhook_retry_first_seconds=60, webhook_retry_max_seconds=3600)
    assert [flows.retry_delay(settings, n).total_seconds() for n in (1, 2, 3, 6, 7, 8, 500)] \
        == [60, 120, 240, 1920, 3600, 3600, 3600]


def test_given_up_after_the_limit_audited_then_sent_again_or_dismissed(sessions: sessionmaker[Session],
                                                                         tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, webhook_max_attempts=3, webhook_retry_first_seconds=1)
    with webhook_receiver(statuses=[500] * 3) as receiver:
        school_id = _school(sessions, receiver.url)
        [first] = _queue(sessions, school_id)
        for minute in range(3):
            [failed] = _send(sessions, settings, NOW + timedelta(minutes=minute))
            assert not failed.ok
        [given_up] = _messages(sessions)
        assert given_up.attempts == 3 and given_up.next_attempt_at is None
        assert given_up.gave_up_at == NOW + timedelta(minutes=2) and "500" in given_up.last_error
        assert _send(sessions, settings, NOW + timedelta(hours=5)) == [] and len(receiver.calls) == 3
        with transaction(sessions) as session:
            [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.gave_up")).all()
            assert entry.object_type == "incident" and entry.object_id == "1" and entry.actor == "system"
            assert entry.detail["attempts"] == 3 and entry.detail["school_id"] == school_id

        # Another call fails once: listed with the given-up one, as failing.
        receiver.statuses.append(500)
        [second] = _queue(sessions, school_id, at=NOW + timedelta(hours=5))
        assert not _send(sessions, settings, NOW + timedelta(hours=5))[0].ok
        with transaction(sessions) as session:
            assert [m.id for m in service.failing_webhooks(session=session)] == [first, second]
            assert service.failing_webhooks(session=session, school_ids=[school_id + 1]) == []
            with pytest.raises(service.MessageError, match="still being retried"):
                service.resend_webhook(session=session, message_id=second, actor="officer", now=NOW)
            with pytest.raises(LookupError):
                service.resend_webhook(session=session, message_id=first, actor="officer", now=NOW,
                                       school_ids=[school_id + 1])
            # The school fixed its endpoint: an officer sends the given-up call again, with fresh attempts.
            service.resend_webhook(session=session, message_id=first, actor="officer", now=NOW + timedelta(hours=6))
        assert [d.ok for d in _send(sessions, settings, NOW + timedelta(hours=6))] == [True, True]
        assert _messages(sessions) == []

    # Given up on age alone, at the first failure, then dismissed by an officer.
    settings = Settings(data_dir=tmp_path, webhook_give_up_hours=1)
    [late] = _queue(sessions, school_id)
    # The endpoint has gone (nothing listens there any more).
    with transaction(sessions) as session, pytest.raises(service.MessageError, match="still being retried"):
        service.dismiss_webhook(session=session, message_id=late, actor="officer", now=NOW)
    [failed] = _send(sessions, settings, NOW + timedelta(hours=1))
    assert not failed.ok and "ConnectError" in failed.error
    [message] = _messages(sessions)
    assert message.gave_up_at is not None and message.attempts == 1
    with transaction(sessions) as session:
        service.dismiss_webhook(session=session, message_id=late, actor="officer", now=NOW + timedelta(hours=2))
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("webhook.%"))
                                  .order_by(AuditEntry.id)).all()
        assert actions == ["webhook.gave_up", "webhook.resend", "webhook.gave_up", "webhook.dismiss"]
    assert _messages(sessions) == []


def test_two_senders_at_once_send_each_call_once(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with webhook_receiver(delay_seconds=0.02) as receiver:
        school_id = _school(sessions, receiver.url)
        ids = _queue(sessions, school_id, count=30)
        start = threading.Barrier(2)
        results: list[list[Delivery]] = [[], []]
        failures: list[BaseException] = []

        def sender(index: int) -> None:
            try:
                start.wait()
                results[index] = flows.send_webhooks(sessions=sessions, settings=settings,
                                                     clock=lambda: NOW + timedelta(seconds=1))
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert failures == []
    sent = sorted(int(call.headers[flows.MESSAGE_ID_HEADER]) for call in receiver.calls)
    assert sent == ids
    assert len(results[0]) + len(results[1]) == 30 and all(d.ok for d in results[0] + results[1])
    assert results[0] and results[1]  # both took part
    assert _messages(sessions) == []


def test_a_dead_senders_claim_is_taken_over(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with webhook_receiver() as receiver:
        school_id = _school(sessions, receiver.url)
        [message_id] = _queue(sessions, school_id)
        with transaction(sessions) as session:  # a sender claimed it, then its process died
            session.execute(update(WebhookMessage).values(claimed_at=NOW))
        assert _send(sessions, settings, NOW + flows.WEBHOOK_CLAIM_TIMEOUT - timedelta(seconds=1)) == []
        [delivery] = _send(sessions, settings, NOW + flows.WEBHOOK_CLAIM_TIMEOUT + timedelta(seconds=1))
        assert delivery.ok and [call.headers[flows.MESSAGE_ID_HEADER] for call in receiver.calls] == [str(message_id)]


def test_the_scheduler_sends_what_is_due(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with webhook_receiver() as receiver:
        school_id = _school(sessions, receiver.url)
        _queue(sessions, school_id, at=datetime.now(UTC) - timedelta(seconds=1))
        job = {job.id: job for job in create_scheduler(sessions=sessions, settings=settings).get_jobs()}["notify.webhooks"]
        job.func(*job.args)
    assert receiver.events() == ["incident.created"] and _messages(sessions) == []
