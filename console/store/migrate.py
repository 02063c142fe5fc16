"""Alembic migrations, run programmatically so they work from an installed package.

`safeguard db upgrade` applies them; `safeguard db revision -m "..."` writes a new one from the models.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.autogenerate import compare_metadata
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        config = _config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    with engine.begin() as connection:
        config = _config(engine)
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def pending_changes(engine: Engine) -> list:
    """Differences between the models and the migrated database (empty when in sync)."""
    import console.models

    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), console.models.metadata)
