"""Engines for the two supported databases.

SQLite (the embedded default) gets WAL, a busy timeout and -- for writes --
``BEGIN IMMEDIATE``. pysqlite's default is a deferred ``BEGIN`` that takes the
write lock only at the first write, so two read-modify-write transactions can
both read the old value and one update is silently lost (or fails with
"database is locked" without waiting). Taking the lock at ``BEGIN`` makes
writers queue up behind the busy timeout instead.

PostgreSQL goes through psycopg 3; writers lock the rows they read
(``SELECT ... FOR UPDATE``, done by the store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from provisioner.errors import ConfigError

#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
IMMEDIATE = "provisioner_immediate"


def normalize_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError("database_url", f"not a database URL: {exc}") from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError("database_url", f"unsupported database {parsed.get_backend_name()!r}")
    return parsed


def make_engines(url: str, busy_timeout: float = 15.0) -> tuple[Engine, Engine]:
    """Return ``(reader, writer)`` sharing one pool."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed, busy_timeout)
    else:
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    return engine, engine.execution_options(**{IMMEDIATE: True})


def _sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout, "check_same_thread": False})
    timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={timeout_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
