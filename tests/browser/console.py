"""Helpers for the browser tests: a console served by a real ``provisioner serve``,
its users made with the ``provisioner user`` command, and Debian's chromium
driven by Playwright (never ``playwright install``: the system browser only)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.server import BIN, Server

CHROMIUM = Path("/usr/bin/chromium")
#: one fresh profile per launch (Playwright makes it); nothing phones home
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium(executable: Path = CHROMIUM) -> Iterator[Browser]:
    """Debian's Chromium (or a wrapper that starts it) headless, through a Playwright
    driver of its own; closed, with the driver, on leaving."""
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


#: every user the session fixture makes: name -> role (the password is PASSWORDS[name])
USERS = {"ada": "admin", "otto": "operator", "vera": "viewer"}
PASSWORDS = {name: f"{name}-secret-pw" for name in USERS}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Console:
    server: Server

    @property
    def base(self) -> str:
        return self.server.base

    def url(self, path: str) -> str:
        return f"{self.server.base}{path}"

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """``provisioner ARGS`` on the server's data directory."""
        env = {"PATH": "/usr/bin:/bin", "PROVISIONER_DATA_DIR": str(self.server.data_dir)}
        return subprocess.run(
            [str(BIN / "provisioner"), *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """The REST API with the admin token (what the test changes behind the browser)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url(path), data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.server.token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def login(self, page: Page, name: str, password: str | None = None) -> None:
        page.goto(self.url("/ui/login"))
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill(password or PASSWORDS[name])
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()


def unlabelled_controls(page: Page) -> list[str]:
    """The page's visible controls without an accessible label (should be none):
    each input, select and textarea needs a <label> or aria-label, each button a text."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea, button")]
            .filter(el => el.type !== "hidden" && !el.hidden)
            .filter(el => el.tagName === "BUTTON"
                ? !el.textContent.trim() && !el.getAttribute("aria-label")
                : !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
            .map(el => el.outerHTML.slice(0, 120))"""
    )
    return found


def screenshot(page: Page, name: str) -> Path:
    """Save a PNG of the page under docs/screenshots/ (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
