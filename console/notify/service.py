"""Webhook endpoints, signed acknowledgement links and the record of deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.notify.models import Delivery, Webhook
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
