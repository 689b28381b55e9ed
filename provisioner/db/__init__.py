"""SQL storage: models, engines, the SQL store and migrations. Nobody outside
this package (and ``migrations/``) imports SQLAlchemy."""

from __future__ import annotations

from collections.abc import Callable

from provisioner.config import Settings
from provisioner.db import migrate
from provisioner.db.engine import normalize_url
from provisioner.db.sqlstore import SqlStore
from provisioner.errors import StoreError

__all__ = ["SqlStore", "new_store_notice", "open_store"]


def open_store(
    settings: Settings,
    *,
    upgrade: bool | None = None,
    created: Callable[[str], None] | None = None,
) -> SqlStore:
    """The configured store, its schema brought up to date when
    ``auto_migrate`` is on (or ``upgrade`` says so). When that makes a new,
    empty database, ``created`` is told so (:func:`new_store_notice`): a
    forgotten ``PROVISIONER_DATA_DIR`` must not silently start an empty store."""
    url = settings.effective_database_url
    dir_existed = settings.data_dir.is_dir()
    store = SqlStore(url, settings.db_busy_timeout)
    try:
        revision = migrate.current(url)
    except Exception as exc:
        store.close()
        raise StoreError(f"cannot open the database: {str(exc).splitlines()[0]}") from exc
    if revision != migrate.head():
        if upgrade if upgrade is not None else settings.auto_migrate:
            migrate.upgrade(url)
            if revision is None and created is not None:
                created(new_store_notice(settings, new_dir=not dir_existed))
        else:
            store.close()
            raise StoreError("the database schema is not current: run 'provisioner db upgrade'")
    return store


def new_store_notice(settings: Settings, *, new_dir: bool) -> str:
    """Which database and data directory were just made, and how to pick others."""
    shown = normalize_url(settings.effective_database_url).render_as_string(hide_password=True)
    return (
        f"created a new, empty database: {shown}\n"
        f"data directory{' (new)' if new_dir else ''}: {settings.data_dir}\n"
        "(not the ones you meant? set PROVISIONER_DATA_DIR or --data-dir, "
        "PROVISIONER_DATABASE_URL or --database-url)"
    )
