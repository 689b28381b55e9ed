"""Shared fixtures.

Databases: tests that take ``db_url`` (directly or through ``store``/``app``)
run twice, on SQLite and on PostgreSQL. PostgreSQL comes from
``PROVISIONER_TEST_DATABASE_URL`` (a server URL whose user may create
databases) or, when that is unset, from a private throw-away cluster this
session starts with the Debian ``postgresql`` binaries on a Unix socket in a
temp dir (no TCP port, nothing shared). Each test gets its own database, cloned
from a migrated template. Without PostgreSQL the PostgreSQL half is skipped,
unless ``PROVISIONER_TEST_REQUIRE_POSTGRES=1`` (set by ``make test``), which
turns that into a failure.

External programs: every program the tests start is recorded (an audit hook,
:mod:`tests.support.programs`) and, at the end of the session, must come from a
Debian package that ``scripts/packages-*.txt`` installs (or a bare Debian 12
has); otherwise the run fails.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from provisioner.cli import main
from provisioner.config import Settings, load_settings
from provisioner.db import migrate
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Role
from provisioner.service import Service
from tests.support import programs
from tests.support.pg import PostgresServer, start_private_cluster
from tests.support.release import add_release

_counter = itertools.count()

#: Installed at import, before any test runs; checked at the end of the session.
_programs = programs.Recorder(
    spool=Path(tempfile.gettempdir()) / f"provisioner-programs-{os.getpid()}.jsonl"
)
_programs.install()


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(programs.ProgramCheck(_programs), "suite-programs")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _programs.spool is not None:
        _programs.spool.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    url = os.environ.get("PROVISIONER_TEST_DATABASE_URL")
    if url:
        server = PostgresServer(url)
        yield server
        server.drop_created()
        return
    with start_private_cluster() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(postgres: PostgresServer | None) -> str | None:
    if postgres is None:
        return None
    name = f"prov_tpl_{os.getpid()}"
    postgres.create_database(name)
    migrate.upgrade(postgres.url_for(name))
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres: PostgresServer | None,
    pg_template: str | None,
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'provisioner.db'}"
        migrate.upgrade(url)
        yield url
        return
    if postgres is None or pg_template is None:
        if os.environ.get("PROVISIONER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (PROVISIONER_TEST_REQUIRE_POSTGRES=1) but absent")
        pytest.skip("PostgreSQL not available")
    name = f"prov_t_{os.getpid()}_{next(_counter)}"
    postgres.create_database(name, template=pg_template)
    yield postgres.url_for(name)
    postgres.drop_database(name)


#: the CLI on a test's data directory and database (:func:`run`)
Run = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The test's data directory (the one :func:`settings` names)."""
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, db_url: str) -> Run:
    """``run("node", "show", MAC, SOME_ENV="x")``: the CLI in-process on this test's
    data directory and database; keyword arguments are more environment."""
    env = {"PROVISIONER_DATA_DIR": str(data_dir), "PROVISIONER_DATABASE_URL": db_url}

    def invoke(*args: str, **extra_env: str) -> Result:
        return CliRunner().invoke(main, list(args), env={**env, **extra_env})

    return invoke


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return load_settings({}, overrides={"data_dir": str(tmp_path / "data"), "database_url": db_url})


@pytest.fixture
def store(settings: Settings) -> Iterator[SqlStore]:
    s = SqlStore(settings.effective_database_url, busy_timeout=settings.db_busy_timeout)
    yield s
    s.close()


@pytest.fixture
def service(store: SqlStore, settings: Settings) -> Service:
    return Service(store, settings)


@pytest.fixture
def app(settings: Settings, store: SqlStore) -> Flask:
    from provisioner.web import create_app

    flask_app = create_app(settings, store)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Api:
    """A test client that sends a bearer token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = self._headers(kw.pop("headers", None))
        return self.client.open(path, method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def admin(client: FlaskClient, service: Service) -> Api:
    _, secret = service.create_token("test-admin", Role.ADMIN)
    return Api(client, secret)


@pytest.fixture
def viewer(client: FlaskClient, service: Service) -> Api:
    _, secret = service.create_token("test-viewer", Role.VIEWER)
    return Api(client, secret)


@pytest.fixture
def release(service: Service) -> str:
    """``base:1.0`` in the store, for nodes that install (tests/support/release.py)."""
    return add_release(service.store)


FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: Skips that stay skips under PROVISIONER_TEST_NO_SKIPS=1 (a known client bug).
ALLOWED_SKIPS = ("curl 7.88 fails on empty TFTP files",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under PROVISIONER_TEST_NO_SKIPS=1 (scripts/test, CI) a skipped test fails:
    a missing package must not pass as a green run."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("PROVISIONER_TEST_NO_SKIPS") == "1":
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        if not any(allowed in reason for allowed in ALLOWED_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"skipped, but PROVISIONER_TEST_NO_SKIPS=1: {reason}"
