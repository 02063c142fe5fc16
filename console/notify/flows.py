"""Sending: email over SMTP and signed webhook calls, each recorded as a Delivery.

Webhook calls go through an outbox: ``enqueue_webhook`` writes a ``WebhookMessage`` in the caller's transaction,
and ``send_webhooks`` sends what is due once that has committed, retrying with backoff until it is delivered or
given up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from console.audit.service import record
from console.notify import service
from console.notify.models import Channel, Delivery, WebhookMessage
from console.settings import Settings
from console.store import transaction, utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Safeguard-Signature"
# The outbox message's id, the same on every retry of one call: a receiver that got it already can ignore it.
MESSAGE_ID_HEADER = "X-Safeguard-Message-Id"
# A webhook call claimed this long ago by a sender that never recorded it (the process died) is sent again.
WEBHOOK_CLAIM_TIMEOUT = timedelta(minutes=5)
SYSTEM = "system"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


def send_email(*, settings: Settings, to: str, subject: str, text: str, attachments: tuple[Attachment, ...] = ()) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.mail_from, to, subject
    message.set_content(text)
    for attachment in attachments:
        maintype, subtype = attachment.content_type.split("/", 1)
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(*, url: str, secret: str, event: str, payload: dict[str, Any], timeout: float,
                 message_id: int) -> None:
    body = json.dumps({"event": event, "data": payload}, default=str, sort_keys=True).encode()
    response = httpx.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body),
                 MESSAGE_ID_HEADER: str(message_id)},
        timeout=timeout,
    )
    response.raise_for_status()


def deliver_email(
    *,
    session: Session,
    settings: Settings,
    to: str,
    subject: str,
    text: str,
    object_type: str,
    object_id: int | str,
    now: datetime,
    contact_id: int | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> Delivery:
    """Send and record; a failure is recorded, not raised, so that the escalation timer still runs."""
    error = try_email(settings=settings, to=to, subject=subject, text=text, attachments=attachments)
    return record_delivery(session=session, channel=Channel.email, target=to, subject=subject, error=error,
                           object_type=object_type, object_id=object_id, now=now, contact_id=contact_id)


def try_email(*, settings: Settings, to: str, subject: str, text: str, attachments: tuple[Attachment, ...] = ()) -> str:
    """Send without touching the database (no transaction held open while SMTP is slow): "" or what went wrong."""
    try:
        send_email(settings=settings, to=to, subject=subject, text=text, attachments=attachments)
    except (OSError, smtplib.SMTPException) as failure:
        return f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    return ""


def try_webhook(*, url: str, secret: str, event: str, payload: dict[str, Any], timeout: float, message_id: int) -> str:
    """Call a webhook without touching the database: "" or what went wrong."""
    try:
        post_webhook(url=url, secret=secret, event=event, payload=payload, timeout=timeout, message_id=message_id)
    except httpx.HTTPError as failure:
        return f"{type(failure).__name__}: {failure}"
    return ""


def record_delivery(
    *, session: Session, channel: Channel, target: str, subject: str, error: str, object_type: str,
    object_id: int | str, now: datetime, contact_id: int | None = None,
) -> Delivery:
    delivery = Delivery(at=now, channel=channel, target=target, subject=subject, ok=not error, error=error,
                        object_type=object_type, object_id=str(object_id), contact_id=contact_id)
    session.add(delivery)
    session.flush()
    return delivery


def enqueue_webhook(
    *, session: Session, school_id: int, event: str, payload: dict[str, Any], object_type: str, object_id: int | str,
    now: datetime,
) -> WebhookMessage | None:
    """Queue a call to the school's webhook, if it has one, in the caller's transaction: nothing is sent unless
    that transaction commits, and then ``send_webhooks`` sends it (the web console's sender thread, the scheduler)."""
    if service.get_webhook(session=session, school_id=school_id) is None:
        return None
    message = WebhookMessage(school_id=school_id, event=event, payload=payload, object_type=object_type,
                             object_id=str(object_id), created_at=now, attempts=0, next_attempt_at=now)
    session.add(message)
    session.flush()
    return message


def retry_delay(settings: Settings, failures: int) -> timedelta:
    """The wait after the ``failures``-th failed attempt: the first wait, doubled each time, up to the longest."""
    seconds = settings.webhook_retry_first_seconds * 2 ** min(max(failures - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.webhook_retry_max_seconds))


@dataclass(frozen=True)
class _Call:
    """One claimed webhook message, everything needed to send it without the database."""

    message_id: int
    claimed_at: datetime
    attempts: int
    created_at: datetime
    school_id: int
    event: str
    payload: dict[str, Any]
    object_type: str
    object_id: str
    webhook: tuple[str, str] | None  # (url, secret) as the school has it now; None if it has none any more


def _claim(session: Session, now: datetime, skip: set[int]) -> _Call | None:
    """Take the next due message: a conditional update, so of two senders (two console processes) only one
    gets it; a claim older than WEBHOOK_CLAIM_TIMEOUT is taken over."""
    query = (
        select(WebhookMessage.id, WebhookMessage.claimed_at)
        .where(WebhookMessage.next_attempt_at <= now,
               or_(WebhookMessage.claimed_at.is_(None), WebhookMessage.claimed_at < now - WEBHOOK_CLAIM_TIMEOUT))
        .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
        .limit(10)
    )
    if skip:
        query = query.where(WebhookMessage.id.not_in(skip))
    for message_id, previous in session.execute(query).all():
        taken = session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id == message_id, WebhookMessage.next_attempt_at.is_not(None),
                   WebhookMessage.claimed_at.is_(None) if previous is None else WebhookMessage.claimed_at == previous)
            .values(claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            continue  # another sender took it first
        message = session.get_one(WebhookMessage, message_id)
        session.refresh(message)
        webhook = service.get_webhook(session=session, school_id=message.school_id)
        return _Call(
            message_id=message.id, claimed_at=now, attempts=message.attempts, created_at=message.created_at,
            school_id=message.school_id, event=message.event, payload=dict(message.payload),
            object_type=message.object_type, object_id=message.object_id,
            webhook=(webhook.url, webhook.secret) if webhook is not None else None,
        )
    return None


def _record(session: Session, settings: Settings, call: _Call, error: str, at: datetime) -> Delivery:
    """Record the attempt; delivered: the message is done; failed: try again later, or give up."""
    delivery = record_delivery(session=session, channel=Channel.webhook, target=call.webhook[0] if call.webhook else "",
                               subject=call.event, error=error, object_type=call.object_type,
                               object_id=call.object_id, now=at)
    if not error:
        # Delivered, even if another sender took the message over meanwhile (it may send it again: the receiver
        # sees the same message id).
        session.execute(delete(WebhookMessage).where(WebhookMessage.id == call.message_id)
                        .execution_options(synchronize_session=False))
        return delivery
    attempts = call.attempts + 1
    give_up = (attempts >= settings.webhook_max_attempts
               or at - call.created_at >= timedelta(hours=settings.webhook_give_up_hours))
    values: dict[str, Any] = {"attempts": attempts, "claimed_at": None, "last_attempt_at": at, "last_error": error}
    if give_up:
        values |= {"next_attempt_at": None, "gave_up_at": at}
    else:
        values["next_attempt_at"] = at + retry_delay(settings, attempts)
    mine = session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == call.message_id, WebhookMessage.claimed_at == call.claimed_at)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if mine != 1:
        return delivery  # delivered or taken over meanwhile: the attempt is recorded, nothing more
    if give_up:
        log.error("webhook %s for %s %s to school %s given up after %d attempts: %s", call.event, call.object_type,
                  call.object_id, call.school_id, attempts, error)
        record(session=session, actor=SYSTEM, action="webhook.gave_up", object_type=call.object_type,
               object_id=call.object_id, at=at,
               detail={"message_id": call.message_id, "school_id": call.school_id, "event": call.event,
                       "url": call.webhook[0] if call.webhook else "", "attempts": attempts, "error": error})
    else:
        log.warning("webhook %s for %s %s to school %s failed (attempt %d), retrying at %s: %s", call.event,
                    call.object_type, call.object_id, call.school_id, attempts, values["next_attempt_at"], error)
    return delivery


def send_webhooks(
    *, sessions: sessionmaker[Session], settings: Settings, clock: Callable[[], datetime] = utcnow,
) -> list[Delivery]:
    """Send every webhook message that is due, one at a time, outside any transaction.

    For each: claim it (a short transaction), post it (no transaction: a slow or refusing endpoint holds nothing),
    then record the attempt as a Delivery and either finish the message or schedule its retry, giving up after
    ``webhook_max_attempts`` attempts or ``webhook_give_up_hours`` (a short transaction). Run after the transaction
    that queued it (the web console's sender thread) and by the scheduler, which also retries and takes over
    claims left by a process that died. Each message is tried at most once per run.
    """
    tried: set[int] = set()
    deliveries = []
    while True:
        with transaction(sessions) as session:
            call = _claim(session, clock(), tried)
        if call is None:
            return deliveries
        tried.add(call.message_id)
        if call.webhook is None:
            error = "the school has no webhook any more"
        else:
            error = try_webhook(url=call.webhook[0], secret=call.webhook[1], event=call.event, payload=call.payload,
                                timeout=settings.webhook_timeout_seconds, message_id=call.message_id)
        at = clock()
        with transaction(sessions) as session:
            deliveries.append(_record(session, settings, call, error, at))
