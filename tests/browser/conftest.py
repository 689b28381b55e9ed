"""Fixtures of the browser tests: one real server and one chromium per session,
a fresh browser context (no cookies) per test. See tests/browser/console.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.console import CHROMIUM, PASSWORDS, USERS, Console, chromium
from tests.support.server import serve

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason="Debian's chromium is not installed"))


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """``provisioner serve`` on 127.0.0.1 (a free port, a temp data directory)
    with an admin, an operator and a viewer made by ``provisioner user add``."""
    tmp = tmp_path_factory.mktemp("console")
    with serve(tmp, "console") as server:
        found = Console(server)
        for name, role in USERS.items():
            done = found.cli("user", "add", name, "--role", role, stdin=PASSWORDS[name] + "\n")
            assert done.returncode == 0, done.stderr
        yield found


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Package-scoped: Playwright's sync API runs an asyncio loop in this thread while
    it is open, so it must stop when the browser tests end (the tests after them call
    asyncio.run(), and the VM test that installs through the browser starts its own)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context per test: no cookies, no storage; a laptop's screen."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
