"""SQL storage: models, engines, the SQL store and migrations. Nobody outside
this package (and ``migrations/``) imports SQLAlchemy."""

from __future__ import annotations

from provisioner.config import Settings
from provisioner.db import migrate
from provisioner.db.sqlstore import SqlStore
from provisioner.errors import StoreError

__all__ = ["SqlStore", "open_store"]


def open_store(settings: Settings, *, upgrade: bool | None = None) -> SqlStore:
    """The configured store, its schema brought up to date when
    ``auto_migrate`` is on (or ``upgrade`` says so)."""
    url = settings.effective_database_url
    store = SqlStore(url, settings.db_busy_timeout)
    try:
        current = migrate.is_current(url)
    except Exception as exc:
        store.close()
        raise StoreError(f"cannot open the database: {str(exc).splitlines()[0]}") from exc
    if not current:
        if upgrade if upgrade is not None else settings.auto_migrate:
            migrate.upgrade(url)
        else:
            store.close()
            raise StoreError("the database schema is not current: run 'provisioner db upgrade'")
    return store
