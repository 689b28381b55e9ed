"""Alembic, driven from code: ``provisioner db upgrade`` and friends.

The migration scripts live in the top-level ``migrations`` package, so they are
found the same way in a checkout and in an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import migrations
from provisioner.db.engine import make_engines, normalize_url


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    # '%' would be read as interpolation by configparser
    cfg.set_main_option(
        "sqlalchemy.url",
        normalize_url(url).render_as_string(hide_password=False).replace("%", "%%"),
    )
    return cfg


def upgrade(url: str, revision: str = "head") -> str | None:
    """Upgrade to ``revision``; returns the revision before (None: it was empty)."""
    # make sure the SQLite directory exists and WAL is on before Alembic connects
    reader, _ = make_engines(url)
    reader.dispose()
    before = current(url)
    command.upgrade(alembic_config(url), revision)
    return before


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models hold changes no migration describes (``alembic check``)."""
    command.check(alembic_config(url))


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current(url: str) -> str | None:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def exists(url: str) -> bool:
    """False for a SQLite database whose file is not there (asking it anything
    would create it); True otherwise."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).exists()


def is_current(url: str) -> bool:
    return current(url) == head()
