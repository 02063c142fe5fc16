"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, free ports, the shared datasets.

`database_url` is parametrised over both backends: a test that takes it (or `sessions`)
runs once on a fresh SQLite file and once on a fresh schema of the PostgreSQL server at
127.0.0.1:5432 (database `test`, trust auth).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from console.store import make_engine, make_sessionmaker
from console.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
POSTGRES_SERVER = os.environ.get("SAFEGUARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'safeguard.db'}"
        return
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the PostgreSQL server, dropped (its connections cut first) afterwards; yields its URL.

    The URL's application_name is the schema's name, so that a test can find (and cut) exactly its
    own connections: see `terminate_connections`.
    """
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_SERVER}?options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        terminate_connections(schema)
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def terminate_connections(application_name: str) -> int:
    """Terminate every server connection opened under ``application_name``; returns how many."""
    admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return len(
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": application_name},
                ).all()
            )
    finally:
        admin.dispose()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@pytest.fixture
def shared_datasets() -> Path:
    if not (SHARED / "datasets").is_dir():
        pytest.fail(f"the shared datasets are expected at {SHARED / 'datasets'}")
    return SHARED / "datasets"
