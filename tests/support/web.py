"""The web console served by a real uvicorn on a free port, with seeded schools, staff and alerts."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from PIL import Image, ImageDraw
from sqlalchemy.orm import Session, sessionmaker

from conftest import free_port
from console.alerts.models import Alert
from console.events.models import Event, Screenshot
from console.ingest.streams import LiveStreams
from console.people import service as people
from console.people.models import Role, User
from console.schools import service as schools
from console.schools.models import Phase
from console.settings import Settings
from console.store import transaction, utcnow
from console.web.app import create_app

PASSWORD = "correct horse battery"
DEVICE = "0f8e2a6c-0000-4000-8000-000000000001"
OTHER_DEVICE = "0f8e2a6c-0000-4000-8000-000000000002"
# username -> (role, school key or None, officer consoles)
STAFF = {
    "admin": (Role.admin, None, ""),
    "officer": (Role.officer, None, "secondary"),
    "officer.primary": (Role.officer, None, "primary"),
    "dsl": (Role.dsl, "riverside", ""),
    "dsl.hillside": (Role.dsl, "hillside", ""),
    "technician": (Role.technician, "riverside", ""),
    "governance": (Role.governance, None, ""),
    "auditor": (Role.auditor, None, ""),
}


@cache
def password_hash() -> str:
    """Hashed once: argon2 is slow by design, and the staff all share the test password."""
    return people.hash_password(PASSWORD)


@dataclass
class Seed:
    riverside: int  # secondary
    hillside: int  # primary
    alert: int  # explicit (pornography) at Riverside, with a screenshot
    screenshot: int
    hillside_alert: int


def png(width: int = 320, height: int = 200, text: str = "explicit") -> bytes:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((20, 80), text, fill="black")
    output = io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


def add_alert(session: Session, *, school_id: int, device_id: str = DEVICE, seq: int, category: str = "self_harm",
              risk: int = 4, user: str = "amelia.jones", text: str = "i want to hurt myself", phrase: str = "hurt myself",
              minutes_ago: float = 0) -> Alert:
    when = utcnow() - timedelta(minutes=minutes_ago)
    session.add(Event(device_id=device_id, seq=seq, event_id=f"e-{device_id[-4:]}-{seq}", kind="typed_text", time=when,
                      user=user, text=text, detail={}))
    start = text.index(phrase) if phrase in text else 0
    alert = Alert(school_id=school_id, device_id=device_id, user=user, event_seq=seq, event_time=when, created_at=when,
                  source="keyboard", category=category, risk=risk, rule_id=f"{category}.test", phrase=phrase, text=text,
                  match_start=start, match_end=start + len(phrase), application="chrome", window_title="Chat",
                  evidence={"rule_severity": risk, "model_score": 0.91})
    session.add(alert)
    session.flush()
    return alert


def seed(sessions: sessionmaker[Session]) -> Seed:
    with transaction(sessions) as session:
        riverside = schools.create(session=session, name="Riverside Academy", phase=Phase.secondary)
        hillside = schools.create(session=session, name="Hillside Primary", phase=Phase.primary)
        ids = {"riverside": riverside.id, "hillside": hillside.id}
        for username, (role, school, consoles) in STAFF.items():
            session.add(User(username=username, display_name=username, password_hash=password_hash(), role=role,
                             school_id=ids[school] if school else None, consoles=consoles))
        session.add(Event(device_id=DEVICE, seq=1, event_id="w-1", kind="web_visit", time=utcnow(), user="amelia.jones",
                          text="Free videos", detail={"url": "https://example.invalid/videos"}))
        alert = add_alert(session, school_id=riverside.id, seq=2, category="pornography", risk=5,
                          text="look at these nude pics", phrase="nude pics", minutes_ago=30)
        shot = Screenshot(device_id=DEVICE, seq=3, trigger_seq=2, time=utcnow(), format="png", width=320, height=200,
                          reason="pornography", image=png())
        session.add(shot)
        hill = add_alert(session, school_id=hillside.id, device_id=OTHER_DEVICE, seq=1, user="tom.hill", minutes_ago=10)
        session.flush()
        return Seed(riverside.id, hillside.id, alert.id, shot.id, hill.id)


@dataclass
class WebConsole:
    url: str
    sessions: sessionmaker[Session]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def login(self, username: str, password: str = PASSWORD) -> httpx.Client:
        client = self.client()
        page = client.get("/login")
        token = csrf_of(page.text)
        reply = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
        assert reply.status_code == 303, reply.text
        return client

    def api_token(self, username: str) -> str:
        with transaction(self.sessions) as session:
            user = people.get_by_username(session=session, username=username)
            assert user is not None
            token, _ = people.create_api_token(session=session, user=user, name="tests")
        return token


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


@contextmanager
def serve(sessions: sessionmaker[Session], data_dir: Path, **options: object) -> Iterator[WebConsole]:
    """The console on a free port; ``options`` are Settings fields (e.g. ``max_failed_logins=3``)."""
    app = create_app(settings=Settings(data_dir=data_dir, **options), sessions=sessions, streams=LiveStreams())
    with web_server(app, free_port()) as base:
        yield WebConsole(base, sessions)


@contextmanager
def web_server(app: FastAPI, port: int) -> Iterator[str]:
    """Any ASGI app under a real uvicorn on ``port``, in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web console did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
