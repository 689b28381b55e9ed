"""A throw-away PostgreSQL for the test session (Debian's binaries, Unix socket only)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


class PostgresServer:
    """Creates and drops databases on one server; ``url`` is an admin URL."""

    def __init__(self, url: str) -> None:
        self.admin = make_url(url).set(drivername="postgresql+psycopg")
        self._created: list[str] = []

    def url_for(self, database: str) -> str:
        return self.admin.set(database=database).render_as_string(hide_password=False)

    def _exec(self, sql: str) -> None:
        u = self.admin
        conninfo = {
            "dbname": u.database or "postgres",
            "user": u.username,
            "password": u.password,
            "host": u.query.get("host") or u.host,
            "port": u.port or u.query.get("port"),
        }
        with psycopg.connect(**{k: v for k, v in conninfo.items() if v}, autocommit=True) as c:
            c.execute(sql)  # type: ignore[arg-type]

    def create_database(self, name: str, template: str | None = None) -> None:
        tpl = f" TEMPLATE {template}" if template else ""
        self._exec(f'CREATE DATABASE "{name}"{tpl}')
        self._created.append(name)

    def drop_database(self, name: str) -> None:
        self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(ValueError):
            self._created.remove(name)

    def drop_created(self) -> None:
        for name in list(reversed(self._created)):
            self.drop_database(name)


def _pg_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin/initdb")), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    # only used as the socket file's name suffix: the server listens on no TCP port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def start_private_cluster() -> Iterator[PostgresServer | None]:
    """Yield a server, or None when PostgreSQL is not installed."""
    bindir = _pg_bin()
    if bindir is None:
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="prov-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        base.chmod(0o700)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()
    opts = f"-k {base} -p {port} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
    started = False
    try:
        subprocess.run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *run_as,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(base / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
        started = True
        yield PostgresServer(f"postgresql+psycopg://postgres@/postgres?host={base}&port={port}")
    finally:
        if started:
            subprocess.run(
                [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)
