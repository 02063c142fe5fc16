"""Database engine, sessions and the declarative base shared by every domain.

One ``database_url`` selects SQLite (default, embedded) or PostgreSQL; the code is the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, Engine, Select, create_engine, event, func, select
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Up to 64 MB of pages per connection (SQLite's default is 2 MB): the index pages ingest writes into
            # stay in memory instead of being read back from the OS for every set (a quarter of the write's CPU).
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with sessions() as session, session.begin():
        yield session


def fetch_rows(session: Session, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The query's rows as tuples; on SQLite read in one step, as one JSON array. SQLite's driver lets go of the
    GIL for every row it steps to and must then get it back, which can take up to the 5 ms switch interval
    while another thread computes. Only for columns that JSON carries unchanged (integers, text)."""
    if session.get_bind().dialect.name != "sqlite":
        return [tuple(row) for row in session.execute(query)]
    inner = query.subquery()
    packed = session.execute(select(func.json_group_array(func.json_array(*inner.c))).select_from(inner)).scalar_one()
    return [tuple(row) for row in json.loads(packed)]
