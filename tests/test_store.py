"""The schema: migrations apply on both backends and match the models exactly."""

from sqlalchemy.orm import Session, sessionmaker

from console.store.migrate import pending_changes


def test_migrations_match_the_models(sessions: sessionmaker[Session]) -> None:
    engine = sessions.kw["bind"]
    assert pending_changes(engine) == []
