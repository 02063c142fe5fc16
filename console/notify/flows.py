"""Sending: email over SMTP and signed webhook calls, each recorded as a Delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy.orm import Session

from console.notify import service
from console.notify.models import Channel, Delivery
from console.settings import Settings

SIGNATURE_HEADER = "X-Safeguard-Signature"
WEBHOOK_TIMEOUT_SECONDS = 10.0


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


def post_webhook(*, url: str, secret: str, event: str, payload: dict[str, Any]) -> None:
    body = json.dumps({"event": event, "data": payload}, default=str, sort_keys=True).encode()
    response = httpx.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body)},
        timeout=WEBHOOK_TIMEOUT_SECONDS,
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


def try_webhook(*, url: str, secret: str, event: str, payload: dict[str, Any]) -> str:
    """Call a webhook without touching the database: "" or what went wrong."""
    try:
        post_webhook(url=url, secret=secret, event=event, payload=payload)
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


def deliver_webhook(
    *, session: Session, school_id: int, event: str, payload: dict[str, Any], object_type: str, object_id: int | str,
    now: datetime,
) -> Delivery | None:
    """Call the school's webhook if it has one; record the outcome."""
    webhook = service.get_webhook(session=session, school_id=school_id)
    if webhook is None:
        return None
    error = try_webhook(url=webhook.url, secret=webhook.secret, event=event, payload=payload)
    return record_delivery(session=session, channel=Channel.webhook, target=webhook.url, subject=event, error=error,
                           object_type=object_type, object_id=object_id, now=now)
