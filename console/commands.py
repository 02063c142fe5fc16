"""What every `safeguard` sub-command shares: a migrated database and a clear failure."""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlalchemy.orm import Session, sessionmaker

from console.settings import Settings


def migrated_sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the configured database, migrated to the current schema first."""
    from console.store import make_engine, make_sessionmaker
    from console.store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return make_sessionmaker(engine)


def fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)
