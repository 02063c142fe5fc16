"""Real servers for the incident tests: an SMTP server that keeps what it receives; the web console comes from support.web."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from conftest import free_port
from support.processes import wait_for  # noqa: F401  (re-exported: the one polling helper)
from support.web import web_server  # noqa: F401  (re-exported: the one console runner, shared with tests/web)


class Mailbox:
    """aiosmtpd handler: every message received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]


class SlowMailbox(Mailbox):
    """Holds every message this long before answering, like a mail server under load."""

    def __init__(self, delay_seconds: float) -> None:
        super().__init__()
        self.delay_seconds = delay_seconds

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay_seconds)
        return await super().handle_DATA(server, session, envelope)


class RefusingMailbox(Mailbox):
    """Refuses every message, as a mail server does that will not relay for us."""

    async def handle_DATA(self, server, session, envelope) -> str:
        return "554 5.7.1 Relaying denied"


@contextmanager
def smtp_server(mailbox: Mailbox | None = None) -> Iterator[tuple[Mailbox, int]]:
    mailbox = mailbox or Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
