"""The schema: migrations apply on both backends and match the models exactly."""

from sqlalchemy import column, select, table, text
from sqlalchemy.orm import Session, sessionmaker

from console.store import fetch_rows, transaction
from console.store.migrate import pending_changes


def test_migrations_match_the_models(sessions: sessionmaker[Session]) -> None:
    engine = sessions.kw["bind"]
    assert pending_changes(engine) == []


def test_fetch_rows_reads_what_execute_reads(sessions: sessionmaker[Session]) -> None:
    """fetch_rows packs SQLite's rows into one JSON value: integers and text, quotes and non-ASCII included, come
    back as they went in."""
    rows = [(1, "pupil \"o'neil\" ✓"), (2, ""), (2**62, "Zoë\n\\")]
    with transaction(sessions) as session:
        session.execute(text("CREATE TABLE probe (n BIGINT, s TEXT)"))
        session.execute(text("INSERT INTO probe VALUES (:n, :s)"), [{"n": n, "s": s} for n, s in rows])
        query = select(column("n"), column("s")).select_from(table("probe")).order_by(column("n"))
        assert fetch_rows(session, query) == [tuple(row) for row in session.execute(query)] == rows
        assert fetch_rows(session, query.where(column("n") < 0)) == []
