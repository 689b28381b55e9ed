"""Logging in and out of the console in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.console import Console, screenshot


def test_a_visitor_is_sent_to_the_login_page_and_back_after_logging_in(
    console: Console, page: Page
) -> None:
    page.goto(console.url("/ui/?view=grid"))
    expect(page).to_have_url(console.url("/ui/login?next=/ui/?view%3Dgrid"))
    page.get_by_label("User name").fill("vera")
    page.get_by_label("Password").fill("vera-secret-pw")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(console.url("/ui/?view=grid"))
    expect(page.get_by_role("heading", name="Rack")).to_be_visible()
    expect(page.get_by_text("vera (viewer)")).to_be_visible()


def test_a_wrong_password_is_refused_beside_the_form(console: Console, page: Page) -> None:
    page.goto(console.url("/ui/login"))
    page.get_by_label("User name").fill("vera")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong user name or password")
    expect(page.get_by_label("User name")).to_have_value("vera")
    expect(page.get_by_label("Password")).to_have_value("")  # never sent back
    screenshot(page, "login-refused")
