"""Tokens and users in a real browser: a token's secret shown once (and it
works), a user added, changed and removed, the last admin kept."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import Console, unlabelled_controls
from tests.browser.rack_data import server_store


def test_a_new_tokens_secret_is_shown_once_and_works_until_revoked(
    console: Console, page: Page
) -> None:
    console.login(page, "ada")
    page.goto(console.url("/ui/tokens"))
    assert unlabelled_controls(page) == []
    page.get_by_label("Name").fill("ci-reader")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret").inner_text()
    assert secret.startswith("prov_")
    req = urllib.request.Request(console.url("/api/v1/nodes"))
    req.add_header("Authorization", f"Bearer {secret}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    page.goto(console.url("/ui/tokens"))
    assert secret not in page.content()  # once only
    page.get_by_role("button", name="Revoke token ci-reader", exact=False).click()
    expect(page.locator(".flash-ok")).to_contain_text("revoked")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    refused.value.close()  # the error holds the answer's socket open
    assert refused.value.code == 401
    with server_store(console.server.data_dir) as store:
        kinds = {(e.kind, e.actor) for e in store.list_events(None, 50)}
    assert {("token.created", "ada"), ("token.revoked", "ada")} <= kinds


def test_users_are_added_changed_and_removed_but_the_last_admin_stays(
    console: Console, page: Page
) -> None:
    console.login(page, "ada")
    page.goto(console.url("/ui/users"))
    assert unlabelled_controls(page) == []
    page.get_by_label("User name").fill("tess")
    page.get_by_label("Role", exact=True).select_option("operator")
    page.get_by_label("Password", exact=True).fill("tess-secret-pw")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator(".flash-ok")).to_have_text("User tess added (operator).")
    page.get_by_label("Role of tess", exact=True).select_option("viewer")
    page.get_by_role("button", name="Set the role of tess").click()
    expect(page.locator(".flash-ok")).to_have_text("tess is now viewer.")
    page.get_by_label("New password of tess").fill("tess-new-secret")
    page.get_by_role("button", name="Set the password of tess").click()
    expect(page.locator(".flash-ok")).to_contain_text("New password of tess set")
    other = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        console.login(other.new_page(), "tess", "tess-new-secret")
    finally:
        other.close()
    page.get_by_label("Role of ada", exact=True).select_option("viewer")
    page.get_by_role("button", name="Set the role of ada").click()
    expect(page.locator(".flash-error")).to_contain_text("ada is the last admin")
    page.get_by_role("button", name="Remove tess").click()
    expect(page.locator(".flash-ok")).to_have_text("User tess removed.")
    with server_store(console.server.data_dir) as store:
        assert store.find_user("tess") is None
        assert store.find_user("ada").role.value == "admin"  # type: ignore[union-attr]
        events = [e for e in store.list_events(None, 50) if e.data.get("name") == "tess"]
    assert {(e.kind, e.actor) for e in events} == {
        ("user.added", "ada"),
        ("user.role", "ada"),
        ("user.password", "ada"),
        ("user.removed", "ada"),
    }
