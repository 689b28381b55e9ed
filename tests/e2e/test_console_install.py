"""A QEMU VM installed entirely through the web console: an operator creates the
node in the form (with its release), presses Install on its page, powers the box
on and watches the node page until the installed system runs. The test's own steps
use only the browser (and the VM's power); the fixtures put the release and the
users in place. Chromium runs in a client namespace on the lab's bridge, so it
reaches ``provisioner serve`` at 192.0.2.1 as a technician's laptop on that LAN
would (never through this machine's own interfaces).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from provisioner.cli import main as cli
from tests.browser.console import CHROMIUM, chromium, screenshot
from tests.e2e.installer_lab import KERNEL_ARGS, Artifacts, InstallerLab, installer_lab
from tests.support import netns
from tests.support.netns import SERVER_IP
from tests.support.tinyrelease import build_tiny_release
from tests.support.vm import Vm

pytestmark = pytest.mark.vm

BASE = f"http://{SERVER_IP}:8080"
LAPTOP_IP = "192.0.2.3/24"  # the browser's address on the lab's bridge
OPERATOR, PASSWORD = "otto", "otto-secret-pw"
HOST = "web-node1"


@pytest.fixture
def il(tmp_path: Path, artifacts: Artifacts) -> Iterator[InstallerLab]:
    cache = artifacts.boot.parent / "cache"
    image = build_tiny_release(artifacts.boot.parent / "tiny-1.0.squashfs", "1.0", cache=cache)
    with netns.lab(tmp_path) as lab, installer_lab(lab, artifacts, tmp_path) as the_lab:
        the_lab.cli("image", "add", str(image), "--name", "tiny", "--version", "1.0")
        added = CliRunner().invoke(
            cli, ["user", "add", OPERATOR, "--role", "operator"], input=f"{PASSWORD}\n",
            env=the_lab.env, catch_exceptions=False,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        the_lab.env["PROVISIONER_REPORT_INTERVAL"] = "5"
        the_lab.start_server()
        yield the_lab


@pytest.fixture
def browser(il: InstallerLab, tmp_path: Path) -> Iterator[Browser]:
    """Debian's chromium, started inside a client namespace of the lab (a wrapper
    that ``ip netns exec``s it; Playwright talks to it over its pipes)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    laptop = il.lab.add_client("laptop", LAPTOP_IP)
    wrapper = tmp_path / "chromium-in-lab"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {laptop.name} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    with chromium(wrapper) as launched:
        yield launched


def _state(page: Page) -> str:
    return page.locator("h1 [data-state]").inner_text().strip()


def _watch(page: Page, vm: Vm, il: InstallerLab, want: str, timeout: float) -> None:
    """Reload the node page until its state is ``want`` (as a person would). While a
    node installs, the page's own script reloads it when the state changes; a reload
    of ours that meets one of its own fails, and the next round looks again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            page.reload()
        except PlaywrightError:
            page.wait_for_load_state()
        if _state(page) == want:
            return
        assert _state(page) != "failed", il.why(vm)
        page.wait_for_timeout(3000)
    raise AssertionError(f"the node page never showed {want}" + il.why(vm))


def test_a_vm_is_installed_entirely_through_the_browser(il: InstallerLab, browser: Browser) -> None:
    vm = il.vm("bios")
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    try:
        page.goto(f"{BASE}/ui/login")
        page.get_by_label("User name").fill(OPERATOR)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # the node, through the form: its address, settings and release; no install yet
        page.get_by_role("link", name="New node").click()
        page.get_by_label("MAC address").fill(vm.mac)
        page.get_by_label("Host name").fill(HOST)
        page.get_by_label("IP address").fill("192.0.2.62")
        page.get_by_label("Netmask").fill("255.255.255.0")
        page.get_by_label("Keyboard").select_option("de_CH")
        page.get_by_label("Language").select_option("de")
        page.get_by_label("Release").select_option("tiny:1.0")
        page.get_by_label("Extra options").fill(KERNEL_ARGS)
        page.get_by_label("Next boot").select_option("local")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(HOST)
        # press Install on the node's page, and confirm
        page.get_by_role("button", name="Install…").click()
        page.get_by_role("button", name=f"Install {HOST}").click()
        expect(page.get_by_role("status").first).to_have_text(f"Next boot of {HOST}: install.")
        node_url = page.url
        vm.boot(420)  # the box is powered on: it PXE-boots, installs, reboots (QEMU ends)
        _watch(page, vm, il, "installing", 300)
        page.goto(f"{BASE}/ui/")
        expect(page.locator("#rack-table [data-state]")).to_have_text("installing")
        screenshot(page, "rack-installing")
        page.goto(node_url)
        _watch(page, vm, il, "installed", 420)
        vm.wait(120)
        bar = page.get_by_label("Boot phases and their durations")
        expect(bar.locator(".phase-image")).to_be_visible()
        expect(bar.locator(".outcome")).to_have_text("installed")
        expect(page.locator("table.slots tr.active")).to_contain_text("tiny:1.0")
        # the box boots its disk; the installed system reports: running
        vm.boot(900, from_disk=True)
        _watch(page, vm, il, "running", 420)
        expect(page.locator("table.timeline tbody tr").first).to_contain_text("node.running")
        expect(bar.locator(".phase-firstboot")).to_be_visible()
        screenshot(page, "node-page-installed")
    finally:
        ctx.close()
    assert re.search(r"192\.0\.2\.62/24", il.node_state(vm).running.get("addresses", "")), il.why(
        vm
    )
