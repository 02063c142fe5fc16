"""A real local HTTP endpoint standing in for a school's case system: answers with the statuses it is given,
keeps every call, and can run a check (e.g. look in the database) when a call arrives."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import free_port


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes
    seen: object = None  # what on_call returned when it arrived

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["X-Safeguard-Signature"], expected)


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in turn; 204 once used up
    delay_seconds: float = 0.0
    on_call: Callable[[Call], object] | None = None
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        call = Call(headers, body)
        if self.on_call is not None:
            call.seen = self.on_call(call)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        with self._lock:
            self.calls.append(call)
            return self.statuses.pop(0) if self.statuses else 204

    def events(self) -> list[str]:
        return [call.json["event"] for call in self.calls]


@contextmanager
def webhook_receiver(**options) -> Iterator[Receiver]:
    receiver = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = receiver.handle(dict(self.headers), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
