"""The node form and a node's page in a real browser: create a node, errors
beside their fields with nothing saved, the preview is what ``/boot/`` serves,
the actions (wipe only with the name typed), roles, escaping, screenshots."""

from __future__ import annotations

import re
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from provisioner.bootparams import Options
from provisioner.domain import Action, Event, Node, Profile, State
from tests.browser.console import Console, screenshot, unlabelled_controls
from tests.browser.node_data import add_installed_node
from tests.browser.rack_data import RELEASE, put_node, server_store, set_state

LOCAL = Action.LOCAL
NEW_MAC = "52:54:00:30:00:01"
BAD_MAC = "52:54:00:30:00:02"
WIPE_MAC = "52:54:00:30:00:03"
SHOWN_MAC = "52:54:00:30:00:07"
HOSTILE_MAC = "52:54:00:30:00:09"
SCRIPT = "<script>window.__pwned = 1</script>"
HOSTILE_NAME = f"{SCRIPT}'\"n"  # host names are unique: not test_security's
TOKEN = re.compile(r"token\.[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def released(console: Console) -> Console:
    with server_store(console.server.data_dir) as store:
        if RELEASE.ref not in {r.ref for r in store.list_releases()}:
            store.add_release(RELEASE)
    return console


def _served(console: Console, path: str) -> str:
    """What a booting box gets: a plain HTTP client, no cookie, no token."""
    with urllib.request.urlopen(console.url(path), timeout=30) as resp:
        return str(resp.read().decode())


def _ask(console: Console, page: Page, action: str) -> None:
    """As an operator, press ``action`` on node wipe-me's page (action local)."""
    with server_store(console.server.data_dir) as store:
        put_node(store, Node(WIPE_MAC, hostname="wipe-me", release=RELEASE.ref, action=LOCAL))
    console.login(page, "otto")
    page.goto(console.url(f"/ui/nodes/{WIPE_MAC}"))
    page.get_by_role("button", name=f"{action}…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{action} wipe-me?")


def _fill_new(page: Page, mac: str, ip: str, host: str = "rack2-node1") -> None:
    page.get_by_label("MAC address").fill(mac)
    page.get_by_label("Host name").fill(host)
    page.get_by_label("IP address").fill(ip)
    page.get_by_label("Netmask").fill("255.255.255.0")
    page.get_by_label("Gateway").fill("192.0.2.1")
    page.get_by_label("DNS servers (comma-separated)").fill("192.0.2.1")
    page.get_by_label("Keyboard").select_option("de_CH")
    page.get_by_label("Language").select_option("de")
    page.get_by_label("Release").select_option(RELEASE.ref)
    page.get_by_label("Extra options").fill("auto console=ttyS0,115200")
    page.get_by_label("Next boot").select_option("install")


def test_an_operator_creates_a_node_and_the_preview_is_what_boot_serves(
    released: Console, page: Page
) -> None:
    console = released
    console.login(page, "otto")
    page.get_by_role("link", name="New node").click()
    assert unlabelled_controls(page) == []
    _fill_new(page, NEW_MAC, "192.0.2.77")
    live = page.locator("#preview-append")
    expect(live).to_contain_text("ip.192.0.2.77", timeout=10_000)  # the script's live preview
    page.get_by_role("button", name="Preview").click()  # the same without a script
    expect(page.locator("#preview-pxelinux")).to_contain_text("APPEND")
    before = page.locator("#preview-pxelinux").inner_text()
    assert "token.NEW-AT-SAVE" in before
    expect(page.get_by_label("Host name")).to_have_value("rack2-node1")  # kept
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("rack2-node1")
    expect(page.get_by_role("status").first).to_have_text("Node rack2-node1 created.")
    name = "01-" + NEW_MAC.replace(":", "-")
    served = _served(console, f"/boot/pxelinux.cfg/{name}")
    assert TOKEN.sub("token.T", served).strip() == TOKEN.sub("token.T", before).strip()
    assert "ip.192.0.2.77" in served
    assert "keyboard.de_CH" in served
    # the saved node's form previews its open install window: the very same bytes
    page.goto(console.url(f"/ui/nodes/{NEW_MAC}/edit"))
    assert page.locator("#preview-pxelinux").inner_text().strip() == served.strip()
    ipxe = _served(console, f"/boot/ipxe?mac={NEW_MAC}")
    assert page.locator("#preview-ipxe").inner_text().strip() == ipxe.strip()
    with server_store(console.server.data_dir) as store:
        node = store.get_node(NEW_MAC)
        want = ("rack2-node1", RELEASE.ref, Action.INSTALL)
        assert (node.hostname, node.release, node.action) == want
        created = store.list_events(NEW_MAC, limit=5)[-1]
        assert (created.kind, created.actor) == ("node.created", "otto")


def test_an_invalid_ip_shows_an_error_beside_the_ip_field_and_saves_nothing(
    released: Console, page: Page
) -> None:
    console = released
    console.login(page, "otto")
    page.goto(console.url("/ui/nodes/new"))
    _fill_new(page, BAD_MAC, "192.0.2.300", "rack2-node2")
    with page.expect_response(re.compile(r"/ui/nodes/new$")) as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 422
    error = page.locator("#f-ip-error")
    expect(error).to_contain_text("192.0.2.300")
    expect(page.get_by_label("IP address")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Host name")).to_have_value("rack2-node2")  # what was typed stays
    with server_store(console.server.data_dir) as store:
        assert store.find_node(BAD_MAC) is None
        assert store.list_events(BAD_MAC, limit=5) == []


def test_a_host_name_another_node_has_is_refused_beside_its_field(
    released: Console, page: Page
) -> None:
    console = released
    with server_store(console.server.data_dir) as store:
        put_node(store, Node("52:54:00:30:00:08", hostname="taken-name"))
    console.login(page, "otto")
    page.goto(console.url("/ui/nodes/new"))
    page.get_by_label("MAC address").fill("52:54:00:30:00:0a")
    page.get_by_label("Host name").fill("Taken-Name")
    page.get_by_label("Next boot").select_option("local")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-hostname-error")).to_contain_text("52:54:00:30:00:08")
    with server_store(console.server.data_dir) as store:
        assert store.find_node("52:54:00:30:00:0a") is None


def test_next_free_ip_comes_from_the_profiles_subnet_skipping_used_addresses(
    released: Console, page: Page
) -> None:
    console = released
    words = Options.parse("ip.192.0.2.2 submask.255.255.255.0 gw.192.0.2.1 dns.192.0.2.3")
    with server_store(console.server.data_dir) as store:
        store.change_profile("rack2", lambda _: Profile("rack2", options=words))
        put_node(store, Node("52:54:00:30:00:05", options=Options.parse("ip.192.0.2.4")))
    console.login(page, "otto")
    page.goto(console.url("/ui/nodes/new"))
    page.get_by_label("MAC address").fill("52:54:00:30:00:06")
    page.get_by_label("Profile").select_option("rack2")
    page.get_by_role("button", name="Use next free IP").click()
    # .1 gateway, .2 the profile's own, .3 DNS, .4 another node's
    expect(page.get_by_label("IP address")).to_have_value("192.0.2.5")
    expect(page.locator("#f-ip-help")).to_contain_text("profile rack2's subnet 192.0.2.0/24")
    with server_store(console.server.data_dir) as store:
        assert store.find_node("52:54:00:30:00:06") is None  # a suggestion saves nothing


def test_screenshot_of_the_form_with_its_preview_and_an_error(
    released: Console, page: Page
) -> None:
    console = released
    console.login(page, "otto")
    page.goto(console.url("/ui/nodes/new"))
    _fill_new(page, "52:54:00:30:00:04", "192.0.2.78", "rack2-node4")
    expect(page.locator("#preview-append")).to_contain_text("ip.192.0.2.78", timeout=10_000)
    page.get_by_label("DNS servers (comma-separated)").fill("192.0.2.1,192.0.2.999")
    expect(page.locator("#f-dns-error")).to_contain_text("192.0.2.999", timeout=10_000)
    expect(page.locator("#preview-append")).to_contain_text("ip.192.0.2.78")  # the last good one
    page.set_viewport_size({"width": 1366, "height": 1000})
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "node-form")


def test_wipe_is_refused_without_the_typed_host_name(released: Console, page: Page) -> None:
    console = released
    _ask(console, page, "Wipe")
    assert unlabelled_controls(page) == []
    page.get_by_label("Type wipe-me to confirm").fill("wipe-you")
    page.get_by_role("button", name="Wipe wipe-me").click()
    expect(page.locator("#f-typed-error")).to_contain_text("type wipe-me")
    with server_store(console.server.data_dir) as store:
        assert store.get_node(WIPE_MAC).action is Action.LOCAL
    page.get_by_label("Type wipe-me to confirm").fill("wipe-me")
    page.get_by_role("button", name="Wipe wipe-me").click()
    expect(page.get_by_role("status").first).to_have_text("Next boot of wipe-me: wipe.")
    with server_store(console.server.data_dir) as store:
        node = store.get_node(WIPE_MAC)
        assert node.action is Action.WIPE
        assert store.list_events(WIPE_MAC, limit=1)[0].actor == "otto"


def test_install_asks_for_confirmation_before_it_changes_anything(
    released: Console, page: Page
) -> None:
    console = released
    _ask(console, page, "Install")
    with server_store(console.server.data_dir) as store:
        assert store.get_node(WIPE_MAC).action is Action.LOCAL  # not yet
    page.get_by_role("button", name="Install wipe-me").click()
    expect(page.get_by_role("status").first).to_have_text("Next boot of wipe-me: install.")


def test_a_viewer_sees_no_action_buttons_on_the_node_page(released: Console, page: Page) -> None:
    console = released
    with server_store(console.server.data_dir) as store:
        add_installed_node(store, SHOWN_MAC, "rack2-node7")
    console.login(page, "vera")
    page.goto(console.url(f"/ui/nodes/{SHOWN_MAC}"))
    expect(page.get_by_role("heading", name="Boot phases")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(1)  # Log out
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value") or ""
    status = page.evaluate(
        """async ([path, token]) => (await fetch(path, {method: "POST",
            body: new URLSearchParams({action: "wipe", confirm: "yes", typed: "rack2-node7",
                                       csrf_token: token})})).status""",
        [f"/ui/nodes/{SHOWN_MAC}/action", token],
    )
    assert status == 403
    page.goto(console.url(f"/ui/nodes/{SHOWN_MAC}/edit"))
    expect(page.get_by_role("heading", name="Refused (403)")).to_be_visible()


def test_the_node_page_shows_phases_slots_and_timeline(released: Console, page: Page) -> None:
    console = released
    with server_store(console.server.data_dir) as store:
        add_installed_node(store, SHOWN_MAC, "rack2-node7")
    console.login(page, "otto")
    page.goto(console.url("/ui/?q=rack2-node7"))
    page.get_by_role("link", name=SHOWN_MAC).click()
    bar = page.get_by_label("Boot phases and their durations")
    names = bar.locator(".phase .name").all_inner_texts()
    assert names == [
        *("DHCP", "loader", "kernel", "agent", "image", "boot files", "settings", "first boot")
    ]
    # agent.image to agent.bootfiles
    expect(bar.locator(".phase-image .took")).to_have_text("1 min 03 s")
    expect(bar.locator(".outcome")).to_have_text("running")
    active = page.locator("table.slots tr.active")
    expect(active).to_contain_text(RELEASE.ref)
    expect(active.locator("td").first).to_have_text("A")
    expect(page.locator("table.timeline tbody tr").first).to_contain_text("node.running")
    assert unlabelled_controls(page) == []
    screenshot(page, "node-page")


def test_the_node_page_follows_an_install_by_itself(released: Console, page: Page) -> None:
    console = released
    mac = "52:54:00:30:00:0b"
    with server_store(console.server.data_dir) as store:
        put_node(store, Node(mac, hostname="follow-me", state=State.INSTALLING))
    console.login(page, "vera")
    page.goto(console.url(f"/ui/nodes/{mac}"))
    chip = page.locator("h1 [data-state]")
    expect(chip).to_have_text("installing")
    with server_store(console.server.data_dir) as store:
        set_state(store, mac, State.INSTALLED)
    expect(chip).to_have_text("installed", timeout=15_000)  # reloaded, nobody pressed F5


def test_hostile_strings_are_escaped_on_the_node_page_and_timeline(
    released: Console, page: Page
) -> None:
    console = released
    message = f'{SCRIPT} "quoted" {{{{7*7}}}}'
    with server_store(console.server.data_dir) as store:
        put_node(store, Node(HOSTILE_MAC, hostname=HOSTILE_NAME))
        store.add_event(Event("x.hostile", message, mac=HOSTILE_MAC, actor=SCRIPT))
    console.login(page, "otto")
    page.goto(console.url(f"/ui/nodes/{HOSTILE_MAC}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE_NAME)
    row = page.locator("table.timeline tbody tr").first
    expect(row.locator("td.event")).to_have_text(message)  # {{7*7}} as typed, not 49
    expect(row.locator("td").nth(2)).to_have_text(SCRIPT)
    page.goto(console.url(f"/ui/nodes/{HOSTILE_MAC}/edit"))
    expect(page.get_by_label("Host name")).to_have_value(HOSTILE_NAME)
    page.goto(console.url(f"/ui/nodes/{HOSTILE_MAC}"))
    page.get_by_role("button", name="Wipe…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE_NAME)
    assert page.evaluate("window.__pwned") is None
