"""The DHCP page in a real browser: a viewer finds it in the menu and sees each
foreign server heard with its offer and the clients it answered; what a server
sent (a boot file name) is shown as text, never run."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.console import Console, screenshot, unlabelled_controls
from tests.browser.rack_data import server_store
from tests.support.observed import record_offer


def test_a_viewer_sees_the_servers_heard_with_their_offer_and_clients(
    console: Console, page: Page
) -> None:
    with server_store(console.server.data_dir) as store:
        record_offer(store, "192.0.2.2", "52:54:00:c0:02:41", b"pxelinux.0")
        record_offer(store, "192.0.2.3", "52:54:00:c0:02:42", b"<script>alert(1)</script>")
    console.login(page, "vera")
    page.get_by_role("link", name="DHCP", exact=True).click()
    expect(page).to_have_url(console.url("/ui/dhcp"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("DHCP servers heard")
    dnsmasq = page.locator("section[data-server='192.0.2.2']")
    offer = dnsmasq.get_by_role("table", name="Last offer of 192.0.2.2")
    expect(offer).to_contain_text("pxelinux.0")
    expect(offer.get_by_role("row", name="option 54 (server id)")).to_contain_text("192.0.2.2")
    expect(offer.get_by_role("row", name="option 53 (message type)")).to_contain_text("OFFER")
    clients = dnsmasq.get_by_role("table", name="Clients 192.0.2.2 answered")
    expect(clients).to_contain_text("52:54:00:c0:02:41")
    expect(clients).to_contain_text("192.0.2.120")
    hostile = page.get_by_role("table", name="Last offer of 192.0.2.3")
    expect(hostile).to_contain_text("<script>alert(1)</script>")
    assert unlabelled_controls(page) == []
    screenshot(page, "dhcp-servers")
