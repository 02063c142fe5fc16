"""Signed acknowledgement links, signed webhooks to a real local HTTP server, failures recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from conftest import free_port
from incidents import factories
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


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received, Receiver.status = [], 204
    server = HTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_webhooks_are_signed_and_every_delivery_recorded(sessions: sessionmaker[Session], receiver: str,
                                                         tmp_path: Path) -> None:
    with transaction(sessions) as session:
        school = factories.school(session)
        assert flows.deliver_webhook(session=session, school_id=school.id, event="incident.created", payload={},
                                     object_type="incident", object_id=1, now=NOW) is None  # none configured
        with pytest.raises(ValueError, match="must start with http"):
            service.set_webhook(session=session, school_id=school.id, url="ftp://x", secret="s" * 20)
        with pytest.raises(ValueError, match="at least 16 characters"):
            service.set_webhook(session=session, school_id=school.id, url=receiver, secret="short")
        service.set_webhook(session=session, school_id=school.id, url=receiver, secret="w" * 20)
        ok = flows.deliver_webhook(session=session, school_id=school.id, event="incident.created",
                                   payload={"id": 1, "risk": 5}, object_type="incident", object_id=1, now=NOW)
        Receiver.status = 500
        failed = flows.deliver_webhook(session=session, school_id=school.id, event="incident.created",
                                       payload={"id": 2}, object_type="incident", object_id=2, now=NOW)
        mail = flows.deliver_email(session=session, settings=Settings(data_dir=tmp_path, smtp_port=free_port()),
                                   to="dsl@x.example", subject="s", text="t", object_type="incident", object_id=1,
                                   now=NOW)
        assert ok.ok and ok.channel == Channel.webhook
        assert not failed.ok and "500" in failed.error
        assert not mail.ok and "ConnectionRefusedError" in mail.error
        assert [d.id for d in service.deliveries(session=session, object_type="incident", object_id=1)] == [ok.id, mail.id]

    headers, body = Receiver.received[0]
    assert json.loads(body) == {"event": "incident.created", "data": {"id": 1, "risk": 5}}
    expected = "sha256=" + hmac.new(b"w" * 20, body, hashlib.sha256).hexdigest()
    assert headers[flows.SIGNATURE_HEADER] == expected
