"""The console's fences in a real browser: logout, CSRF, roles, escaping."""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Page, expect

from provisioner.bootparams import Options
from provisioner.domain import Action, Event, Node, Profile
from tests.browser.console import Console
from tests.browser.rack_data import put_node, server_store

MAC = "52:54:00:20:00:01"  # the node these tests act on (not in the demo rack)
HOSTILE_MAC = "52:54:00:20:00:02"
#: what an attacker would like a page to run or evaluate
SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '"\'><img src=x onerror="window.__pwned=2">'
TEMPLATE = "{{7*7}}"


def _post(page: Page, path: str, fields: dict[str, str]) -> int | str:
    """POST a form from inside the page (the browser sends its cookie): the status,
    or "redirect" (the answer to a form that was accepted)."""
    status: int | str = page.evaluate(
        """async ([path, fields]) => {
            const body = new URLSearchParams(fields);
            const r = await fetch(path, {method: "POST", body, redirect: "manual"});
            return r.type === "opaqueredirect" ? "redirect" : r.status;
        }""",
        [path, fields],
    )
    return status


def _page_token(page: Page) -> str:
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    return token


def _ensure_node(console: Console) -> None:
    with server_store(console.server.data_dir) as store:
        put_node(store, Node(MAC, hostname="sec-node", action=Action.INSTALL))


def test_logout_ends_the_session_and_the_old_cookie_is_refused(
    console: Console, context: BrowserContext, browser: Browser
) -> None:
    page = context.new_page()
    console.login(page, "ada")
    kept = context.cookies()
    assert any(c["name"] == "provisioner_console" for c in kept)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    replay = browser.new_context()
    try:
        replay.add_cookies(kept)  # type: ignore[arg-type]
        again = replay.new_page()
        again.goto(console.url("/ui/"))
        expect(again.get_by_role("heading", name="Log in")).to_be_visible()
    finally:
        replay.close()


def test_a_post_without_the_csrf_token_is_refused(console: Console, page: Page) -> None:
    _ensure_node(console)
    console.login(page, "otto")
    page.goto(console.url("/ui/"))
    fields = {"mac": MAC, "action": "local"}
    assert _post(page, "/ui/rack/action", fields) == 400
    assert _post(page, "/ui/rack/action", {**fields, "csrf_token": "forged"}) == 400
    with server_store(console.server.data_dir) as store:
        assert store.get_node(MAC).action is Action.INSTALL  # nothing changed
    assert _post(page, "/ui/rack/action", {**fields, "csrf_token": _page_token(page)}) == "redirect"
    with server_store(console.server.data_dir) as store:
        assert store.get_node(MAC).action is Action.LOCAL


def test_a_viewer_sees_no_action_buttons_and_a_forged_post_is_refused(
    console: Console, page: Page
) -> None:
    _ensure_node(console)
    console.login(page, "vera")
    page.goto(console.url("/ui/?q=sec-node"))
    expect(page.locator("#rack-table")).to_be_visible()
    expect(page.get_by_role("button", name="Apply")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.locator("form[method=post]")).to_have_count(1)  # the logout button only
    # the viewer forges the operator's form, with her own valid CSRF token
    forged = {"mac": MAC, "action": "local", "csrf_token": _page_token(page)}
    assert _post(page, "/ui/rack/action", forged) == 403
    with server_store(console.server.data_dir) as store:
        assert store.get_node(MAC).action is Action.INSTALL


def test_hostile_strings_appear_escaped(console: Console, page: Page) -> None:
    profile = f"p{IMG}"[:64]
    message = f"{SCRIPT} {IMG} {TEMPLATE}"
    with server_store(console.server.data_dir) as store:
        # written around the validators, as a database filled by something else could hold
        store.change_profile(profile, lambda _: Profile(profile, options=Options()))
        put_node(store, Node(HOSTILE_MAC, hostname=SCRIPT, profile=profile))
        store.add_event(Event("x", message, mac=HOSTILE_MAC))
    console.login(page, "vera")
    for view in ("table", "grid"):
        page.goto(console.url(f"/ui/?view={view}&q=52:54:00:20:00:02"))
        expect(page.locator(f'[data-mac="{HOSTILE_MAC}"]').first).to_contain_text(SCRIPT)
        assert page.evaluate("window.__pwned") is None
    row = page.locator(f'#rack-table tr[data-mac="{HOSTILE_MAC}"]')
    page.goto(console.url(f"/ui/?q={HOSTILE_MAC}"))
    expect(row.locator("td").nth(1)).to_have_text(SCRIPT)
    expect(row.locator("td").nth(3)).to_have_text(profile)
    expect(row.locator("td.event")).to_have_text(message)  # {{7*7}} as typed, not 49
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    # the query string is hostile too: echoed into the search box, escaped
    page.goto(console.url("/ui/?q=%22%3E%3Cscript%3Ewindow.__pwned%3D3%3C%2Fscript%3E"))
    expect(page.get_by_label("Search")).to_have_value('"><script>window.__pwned=3</script>')
    assert page.evaluate("window.__pwned") is None
