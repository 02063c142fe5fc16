"""FastAPI dependencies shared by every domain's views (sessions, settings, live streams)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from console.ingest.streams import LiveStreams
from console.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; committed when the view returns without error."""
    with request.app.state.sessions() as session, session.begin():
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_streams(request: Request) -> LiveStreams:
    return request.app.state.streams
