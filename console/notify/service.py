"""Webhook endpoints, signed acknowledgement links, the record of deliveries and the webhook outbox."""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from console.audit.service import record
from console.notify.models import Delivery, Webhook, WebhookMessage
from console.settings import Settings

ACK_SALT = "escalation-ack"


class LinkError(Exception):
    """A link that cannot be used; the message says why."""


def sign_ack_link(*, settings: Settings, escalation_id: int, contact_id: int, now: datetime) -> str:
    """A token naming the escalation and the contact, valid for ``ack_link_days`` from ``now``."""
    expires = now + timedelta(days=settings.ack_link_days)
    payload = {"e": escalation_id, "c": contact_id, "x": int(expires.timestamp())}
    return URLSafeSerializer(settings.resolved_secret_key, salt=ACK_SALT).dumps(payload)


def read_ack_link(*, settings: Settings, token: str, now: datetime) -> tuple[int, int]:
    """(escalation id, contact id) from a token; LinkError if it was altered or has expired."""
    try:
        payload = URLSafeSerializer(settings.resolved_secret_key, salt=ACK_SALT).loads(token)
    except BadSignature:
        raise LinkError("this acknowledgement link is not valid (altered or incomplete)") from None
    if now.timestamp() > payload["x"]:
        raise LinkError("this acknowledgement link has expired: ask the safeguarding team for a new one")
    return payload["e"], payload["c"]


def set_webhook(*, session: Session, school_id: int, url: str, secret: str) -> Webhook:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"a webhook url must start with http:// or https://, not {url!r}")
    if len(secret) < 16:
        raise ValueError("a webhook secret must be at least 16 characters")
    webhook = session.get(Webhook, school_id) or Webhook(school_id=school_id)
    webhook.url, webhook.secret = url, secret
    session.add(webhook)
    session.flush()
    return webhook


def get_webhook(*, session: Session, school_id: int) -> Webhook | None:
    return session.get(Webhook, school_id)


def deliveries(*, session: Session, object_type: str, object_id: int | str) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.object_type == object_type, Delivery.object_id == str(object_id))
            .order_by(Delivery.id)
        )
    )


class MessageError(Exception):
    """A webhook message that cannot be sent again or dismissed; the message says why."""


def failing_webhooks(*, session: Session, school_ids: list[int] | None = None) -> list[WebhookMessage]:
    """Webhook calls not delivered after at least one attempt: still retrying, or given up. Oldest first."""
    query = select(WebhookMessage).where(or_(WebhookMessage.attempts > 0, WebhookMessage.gave_up_at.is_not(None)))
    if school_ids is not None:
        query = query.where(WebhookMessage.school_id.in_(school_ids))
    return list(session.scalars(query.order_by(WebhookMessage.created_at, WebhookMessage.id)))


def webhook_messages(*, session: Session, objects: list[tuple[str, int | str]]) -> list[WebhookMessage]:
    """The undelivered webhook calls about these (object type, object id) pairs."""
    if not objects:
        return []
    query = select(WebhookMessage).where(or_(*(
        (WebhookMessage.object_type == kind) & (WebhookMessage.object_id == str(key)) for kind, key in objects)))
    return list(session.scalars(query.order_by(WebhookMessage.id)))


def _given_up(session: Session, message_id: int, school_ids: list[int] | None, actor: str, action: str,
              now: datetime) -> WebhookMessage:
    """The given-up message, its handling by ``actor`` audited."""
    message = session.get(WebhookMessage, message_id, with_for_update=True)
    if message is None or (school_ids is not None and message.school_id not in school_ids):
        raise LookupError(f"no undelivered webhook call {message_id}")
    if message.gave_up_at is None:
        raise MessageError(f"webhook call {message_id} has not been given up: it is still being retried")
    record(session=session, actor=actor, action=action, object_type=message.object_type,
           object_id=message.object_id, at=now,
           detail={"message_id": message.id, "school_id": message.school_id, "event": message.event,
                   "attempts": message.attempts, "error": message.last_error})
    return message


def resend_webhook(*, session: Session, message_id: int, actor: str, now: datetime,
                   school_ids: list[int] | None = None) -> WebhookMessage:
    """Queue a given-up call again with a fresh set of attempts (the school says its endpoint works again)."""
    message = _given_up(session, message_id, school_ids, actor, "webhook.resend", now)
    # created_at restarts too: webhook_give_up_hours counts from here.
    message.attempts, message.created_at, message.next_attempt_at = 0, now, now
    message.gave_up_at, message.claimed_at = None, None
    session.flush()
    return message


def dismiss_webhook(*, session: Session, message_id: int, actor: str, now: datetime,
                    school_ids: list[int] | None = None) -> None:
    """Forget a given-up call (the school has been told another way); the audit log keeps what it was."""
    message = _given_up(session, message_id, school_ids, actor, "webhook.dismiss", now)
    session.delete(message)
    session.flush()
