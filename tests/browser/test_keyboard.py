"""The console by keyboard, and every control labelled (for screen readers)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.console import Console, unlabelled_controls


def test_every_control_has_a_label(console: Console, page: Page) -> None:
    page.goto(console.url("/ui/login"))
    assert unlabelled_controls(page) == []
    console.login(page, "otto")  # an operator: the rack's action form and boxes too
    for view in ("table", "grid"):
        page.goto(console.url(f"/ui/?view={view}"))
        assert unlabelled_controls(page) == [], view


def test_the_rack_is_searched_by_keyboard_alone(console: Console, page: Page) -> None:
    console.login(page, "vera")
    page.goto(console.url("/ui/"))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")  # to the page's content
    for _ in range(20):  # tab on until the search box has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-q":
            break
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("no-such-node")
    page.keyboard.press("Enter")
    expect(page).to_have_url(
        console.url("/ui/?q=no-such-node&state=&view=table&sort=hostname&dir=asc")
    )
    expect(page.locator("p.empty")).to_be_visible()
