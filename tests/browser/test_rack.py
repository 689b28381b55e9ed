"""The rack overview in a real browser: the table, its search and sort without
JavaScript, the grid that recolours itself, operators' actions, screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from provisioner.domain import Action, State
from tests.browser.console import Console, screenshot
from tests.browser.rack_data import (
    DEMO_PREFIX,
    DEMO_STATES,
    add_demo_rack,
    demo_mac,
    server_store,
    set_state,
)


@pytest.fixture(scope="module")
def rack(console: Console) -> Console:
    with server_store(console.server.data_dir) as store:
        add_demo_rack(store)
    return console


@pytest.fixture
def no_script_page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1366, "height": 768})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def _hostnames(page: Page) -> list[str]:
    return page.locator("#rack-table tbody tr td:nth-child(2)").all_inner_texts()


def test_search_filter_and_sort_work_without_javascript(
    rack: Console, no_script_page: Page
) -> None:
    page = no_script_page
    rack.login(page, "vera")
    page.goto(rack.url(f"/ui/?q={DEMO_PREFIX}"))
    assert len(_hostnames(page)) == len(DEMO_STATES)
    page.get_by_label("Search").fill(f"{DEMO_PREFIX}2")  # units 20-29
    page.get_by_label("State", exact=True).select_option("installing")  # units 21-28
    page.get_by_role("button", name="Show").click()
    assert _hostnames(page) == [f"{DEMO_PREFIX}{u}" for u in range(21, 29)]
    states = page.locator("#rack-table tbody [data-state]").all_inner_texts()
    assert set(states) == {"installing"}
    page.goto(rack.url(f"/ui/?q={DEMO_PREFIX}"))
    page.get_by_role("link", name="IP", exact=True).click()  # ascending
    page.get_by_role("link", name="IP", exact=True).click()  # again: descending
    ips = page.locator("#rack-table tbody tr td:nth-child(3)").all_inner_texts()
    assert ips == sorted(ips, key=lambda ip: tuple(int(p) for p in ip.split(".")), reverse=True)


def test_the_grid_changes_colour_when_a_nodes_state_changes(rack: Console, page: Page) -> None:
    rack.login(page, "vera")
    page.goto(rack.url(f"/ui/?view=grid&q={DEMO_PREFIX}"))
    mac = demo_mac(len(DEMO_STATES))  # the last unit: failed
    cell = page.locator(f'#rack-grid [data-mac="{mac}"]')
    expect(cell).to_have_class(re.compile(r"\bstate-failed\b"))
    before = cell.evaluate("el => getComputedStyle(el).backgroundColor")
    with server_store(rack.server.data_dir) as store:
        set_state(store, mac, State.INSTALLING)
    try:
        expect(cell).to_have_class(re.compile(r"\bstate-installing\b"), timeout=25_000)
        expect(cell.locator("[data-state]")).to_have_text("installing")
        page.wait_for_timeout(400)  # the colour's transition
        after = cell.evaluate("el => getComputedStyle(el).backgroundColor")
        assert after != before
    finally:
        with server_store(rack.server.data_dir) as store:
            set_state(store, mac, State.FAILED)


def test_an_operator_sets_the_next_boot_of_chosen_nodes_and_the_events_name_them(
    rack: Console, page: Page
) -> None:
    rack.login(page, "otto")
    page.goto(rack.url(f"/ui/?q={DEMO_PREFIX}&sort=hostname"))
    macs = [demo_mac(1), demo_mac(2)]
    for unit in (1, 2):
        page.get_by_label(f"Choose {DEMO_PREFIX}{unit:02d}", exact=True).check()
    page.get_by_label("Next boot of the chosen nodes").select_option("local")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_have_text("Next boot of 2 node(s): local.")
    expect(page).to_have_url(re.compile(rf"q={DEMO_PREFIX}"))  # back to the same view
    with server_store(rack.server.data_dir) as store:
        for mac in macs:
            assert store.get_node(mac).action is Action.LOCAL
            newest = store.list_events(mac, limit=1)[0]
            assert (newest.kind, newest.actor) == ("node.updated", "otto")


def test_screenshots_of_the_rack_overview(rack: Console, page: Page) -> None:
    rack.login(page, "otto")
    page.goto(rack.url(f"/ui/?q={DEMO_PREFIX}&sort=hostname"))
    expect(page.locator("#rack-table")).to_be_visible()
    screenshot(page, "rack-table")
    page.goto(rack.url(f"/ui/?q={DEMO_PREFIX}&sort=hostname&view=grid"))
    expect(page.locator("#rack-grid")).to_be_visible()
    screenshot(page, "rack-grid")
