"""The admin pages in a real browser: the rack's CSV import (all or nothing, the
bad row named), the syslinux.cfg import's findings, profiles (a delete refused
while used, hostile names escaped), the viewer's fence and a release upload."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, Route, expect

from provisioner.domain import Node, Profile
from provisioner.importer import plan_import
from tests.browser.console import Console, screenshot, unlabelled_controls
from tests.browser.rack_data import put_node, server_store
from tests.browser.test_security import IMG, SCRIPT, TEMPLATE, _page_token, _post
from tests.support.media import make_squashfs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "syslinux"
CSV_HEAD = "mac,hostname,ip,profile,action,options\n"


def _profile(console: Console, name: str) -> None:
    with server_store(console.server.data_dir) as store:
        store.change_profile(name, lambda old: old or Profile(name, kernel="vmlinuz"))


def _preview_csv(console: Console, page: Page, text: str) -> None:
    console.login(page, "ada")
    page.goto(console.url("/ui/import"))
    assert unlabelled_controls(page) == []
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "rack.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.get_by_role("button", name="Preview the CSV").click()


def test_a_csv_with_one_bad_row_imports_nothing_and_names_the_row(
    console: Console, page: Page
) -> None:
    _profile(console, "imp")
    text = CSV_HEAD + (
        "52:54:00:40:00:01,imp-a,192.0.2.41,imp,local,keyboard.de_CH\n"
        "52:54:00:40:00:02,imp-b,192.0.2.42,imp,local,\n"
        "52:54:00:40:00:03,imp-c,192.0.2.43,nosuch,local,\n"
    )
    _preview_csv(console, page, text)
    problems = page.get_by_role("alert", name="CSV problems")
    expect(problems).to_contain_text("Row 4, profile: profile 'nosuch' does not exist")
    expect(page.locator("tr.bad-row")).to_have_count(1)
    expect(page.locator("tr.bad-row th")).to_have_text("4")
    expect(page.get_by_role("button", name="Import 3 node(s)")).to_have_count(0)
    screenshot(page, "import-preview-error")
    # the preview's text posted back as it is: checked again, still refused
    again = {"csv_text": text, "apply": "1", "csrf_token": _page_token(page)}
    assert _post(page, "/ui/import/csv", again) == 422
    with server_store(console.server.data_dir) as store:
        assert [n for n in store.list_nodes() if n.mac.startswith("52:54:00:40")] == []


def test_a_good_csv_imports_every_row(console: Console, page: Page) -> None:
    _profile(console, "imp")
    text = CSV_HEAD + (
        "52:54:00:41:00:01,good-a,192.0.2.51,imp,local,keyboard.de_CH\n"
        "52-54-00-41-00-02,good-b,192.0.2.52,imp,local,\n"
    )
    _preview_csv(console, page, text)
    expect(page.locator("table.preview tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Import 2 node(s)").click()
    expect(page.get_by_role("status").first).to_have_text("Imported 2 node(s).")
    with server_store(console.server.data_dir) as store:
        a = store.get_node("52:54:00:41:00:01")
        b = store.get_node("52:54:00:41:00:02")
        assert (a.hostname, b.hostname) == ("good-a", "good-b")
        assert a.options.render() == "ip.192.0.2.51 keyboard.de_CH"
        events = [e for e in store.list_events(None, 50) if e.mac == a.mac]
        assert events[0].actor == "ada"


def test_a_syslinux_cfg_import_shows_the_wrapped_append_with_its_line(
    console: Console, page: Page
) -> None:
    path = FIXTURES / "avbox1-wrapped.cfg"
    wrapped = plan_import(path.read_text()).problems
    assert wrapped
    console.login(page, "ada")
    page.goto(console.url("/ui/import"))
    page.get_by_label("syslinux.cfg", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Preview the syslinux.cfg").click()
    alert = page.get_by_role("alert", name="syslinux.cfg problems")
    for p in wrapped:
        expect(alert).to_contain_text(f"Line {p.line}: {p.message}")
    expect(alert).to_contain_text("continues the APPEND")
    expect(page.get_by_role("button", name="Import", exact=False)).to_have_count(0)


def test_deleting_a_profile_in_use_is_refused_with_the_reason(console: Console, page: Page) -> None:
    _profile(console, "busy")
    with server_store(console.server.data_dir) as store:
        put_node(store, Node("52:54:00:42:00:01", hostname="busy-node", profile="busy"))
    console.login(page, "ada")
    page.goto(console.url("/ui/profiles"))
    assert unlabelled_controls(page) == []
    page.get_by_role("button", name="Delete busy", exact=True).click()
    flash = page.locator(".flash-error")
    expect(flash).to_contain_text("Profile busy not deleted")
    expect(flash).to_contain_text("52:54:00:42:00:01")
    expect(page.locator('tr[data-profile="busy"]')).to_have_count(1)


def test_a_viewer_sees_no_admin_buttons_and_a_forged_post_is_refused(
    console: Console, page: Page
) -> None:
    _profile(console, "kept")
    console.login(page, "vera")
    for path in ("/ui/profiles", "/ui/releases", "/ui/bundles"):
        page.goto(console.url(path))
        expect(page.locator("form[method=post]")).to_have_count(1)  # the logout button only
        expect(page.get_by_role("link", name="New profile")).to_have_count(0)
    expect(page.get_by_role("link", name="Import")).to_have_count(0)
    token = _page_token(page)
    forged = {"csrf_token": token}
    assert _post(page, "/ui/profiles/kept/delete", forged) == 403
    csv = {**forged, "apply": "1", "csv_text": CSV_HEAD + "52:54:00:43:00:01,v,,kept,local,\n"}
    assert _post(page, "/ui/import/csv", csv) == 403
    assert _post(page, "/ui/users", {**forged, "name": "eve", "role": "admin"}) == 403
    assert _post(page, "/ui/tokens", {**forged, "name": "eve", "role": "admin"}) == 403
    with server_store(console.server.data_dir) as store:
        store.get_profile("kept")
        assert store.find_node("52:54:00:43:00:01") is None
        assert store.find_user("eve") is None


def test_hostile_profile_names_appear_escaped(console: Console, page: Page) -> None:
    name = f"h{IMG}"[:64]
    described = f"{SCRIPT} {TEMPLATE}"
    with server_store(console.server.data_dir) as store:  # around the validators
        store.change_profile(name, lambda _: Profile(name, description=described))
    console.login(page, "ada")
    page.goto(console.url("/ui/profiles"))
    row = page.locator("tr", has_text=described)
    expect(row.locator("td").first).to_have_text(name)
    expect(row.locator("td").nth(7)).to_have_text(described)  # {{7*7}} as typed
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    # a hostile name typed into the form: refused beside its field, escaped
    page.goto(console.url("/ui/profiles/new"))
    assert unlabelled_controls(page) == []
    page.get_by_label("Name").fill(SCRIPT)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-name")).to_have_value(SCRIPT)
    expect(page.locator("#f-name-error")).to_be_visible()
    assert page.evaluate("window.__pwned") is None


def test_a_release_upload_shows_progress_and_lists_the_release(
    console: Console, page: Page, tmp_path: Path
) -> None:
    image = make_squashfs(tmp_path / "tiny.sqfs", payload=9_000_000)
    console.login(page, "ada")
    page.goto(console.url("/ui/releases"))
    assert unlabelled_controls(page) == []
    page.get_by_label("Name").fill("tiny")
    page.get_by_label("Version").fill("1.0")
    page.get_by_label("Image (squashfs)").set_input_files(str(image))
    seen: list[str] = []  # what the status line said, in order (the page reloads at the end)
    page.expose_function("noteProgress", lambda text: seen.append(text))
    page.evaluate(
        """() => { const s = document.querySelector("#release-upload .upload-status");
            new MutationObserver(() => window.noteProgress(s.textContent))
                .observe(s, {childList: true, characterData: true, subtree: true}); }"""
    )
    page.get_by_role("button", name="Upload").click()
    row = page.locator('tr[data-release="tiny:1.0"]')
    expect(row).to_be_visible(timeout=60_000)
    expect(row).to_contain_text(f"{image.stat().st_size:,} bytes")
    percents = [t for t in seen if " % (" in t]
    assert len(set(percents)) >= 3, seen  # 0 %, some chunks, 100 %
    assert seen[-1] == "Release added.", seen
    with server_store(console.server.data_dir) as store:
        store.change_profile("on-tiny", lambda _: Profile("on-tiny", release="tiny:1.0"))
    page.reload()
    expect(row).to_contain_text("profile on-tiny")
    page.get_by_role("button", name="Delete release tiny:1.0").click()
    expect(page.locator(".flash-error")).to_contain_text("Release tiny:1.0 not deleted")
    expect(page.locator(".flash-error")).to_contain_text("on-tiny")
    screenshot(page, "releases")


def test_a_bundle_is_made_its_file_uploaded_and_its_delete_refused_while_used(
    console: Console, page: Page
) -> None:
    console.login(page, "ada")
    page.goto(console.url("/ui/bundles"))
    assert unlabelled_controls(page) == []
    page.get_by_label("Name", exact=True).fill("vm1")
    page.get_by_label("Definition file name").fill("v1.con")
    page.get_by_role("button", name="Save bundle").click()
    expect(page.locator(".flash-ok")).to_have_text("Bundle vm1 saved.")
    row = page.locator('tr[data-bundle="vm1"]')
    expect(row).to_contain_text("not uploaded")
    assert unlabelled_controls(page) == []
    row.get_by_label("File for vm1").set_input_files(
        files=[{"name": "v1.con", "mimeType": "text/plain", "buffer": b"name=vm1\nmemory=512\n"}]
    )
    row.get_by_role("button", name="Upload a file of vm1").click()
    expect(row).to_contain_text("20 bytes, text", timeout=30_000)
    with server_store(console.server.data_dir) as store:
        store.change_profile("uses-vm1", lambda _: Profile("uses-vm1", bundle="vm1"))
    page.reload()
    page.get_by_role("button", name="Delete bundle vm1").click()
    expect(page.locator(".flash-error")).to_contain_text("Bundle vm1 not deleted")
    expect(page.locator(".flash-error")).to_contain_text("uses-vm1")


def test_a_release_upload_cut_off_resumes_where_it_stopped(
    console: Console, page: Page, tmp_path: Path
) -> None:
    image = make_squashfs(tmp_path / "cut.sqfs", payload=9_000_000, seed=2)
    console.login(page, "ada")
    page.goto(console.url("/ui/releases"))
    cut: list[str] = []

    def drop_the_second_chunk(route: Route) -> None:
        sent = route.request.headers.get("content-range", "")
        if route.request.method == "PUT" and not sent.startswith("bytes */"):
            cut.append(sent)
            if len(cut) == 2:
                route.abort()
                return
        route.continue_()

    page.route("**/ui/uploads/*", drop_the_second_chunk)
    page.get_by_label("Name").fill("cut")
    page.get_by_label("Version").fill("1.0")
    page.get_by_label("Image (squashfs)").set_input_files(str(image))
    status = page.locator("#release-upload .upload-status")
    page.get_by_role("button", name="Upload").click()
    expect(status).to_contain_text("Upload stopped")
    page.unroute("**/ui/uploads/*")
    seen: list[str] = []
    page.expose_function("noteProgress", lambda text: seen.append(text))
    page.evaluate(
        """() => { const s = document.querySelector("#release-upload .upload-status");
            new MutationObserver(() => window.noteProgress(s.textContent))
                .observe(s, {childList: true, characterData: true, subtree: true}); }"""
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.locator('tr[data-release="cut:1.0"]')).to_be_visible(timeout=60_000)
    assert "(4194304 of" in seen[0], seen  # the first chunk is not sent again


def test_a_good_syslinux_cfg_is_previewed_then_imported_as_profiles(
    console: Console, page: Page
) -> None:
    path = FIXTURES / "avbox2.cfg"
    names = [p.name for p in plan_import(path.read_text()).profiles]
    console.login(page, "ada")
    page.goto(console.url("/ui/import"))
    page.get_by_label("syslinux.cfg", exact=True).set_input_files(str(path))
    page.get_by_label("Replace profiles that exist").check()
    page.get_by_role("button", name="Preview the syslinux.cfg").click()
    page.get_by_role("button", name="Import", exact=False).click()
    expect(page.get_by_role("heading", name="Profiles")).to_be_visible()
    expect(page.locator(".flash-ok")).to_contain_text("from syslinux.cfg")
    for name in names:
        expect(page.locator(f'tr[data-profile="{name}"]')).to_have_count(1)
    with server_store(console.server.data_dir) as store:
        imported = [e for e in store.list_events(None, 50) if e.kind == "profile.imported"]
    assert imported[0].actor == "ada"


def test_files_past_the_limits_are_refused_saying_so(console: Console, page: Page) -> None:
    console.login(page, "ada")
    page.goto(console.url("/ui/import"))
    big = b"mac\n" + b"52:54:00:44:00:01\n" * 70_000  # 1.2 MiB: past the CSV limit
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": big}]
    )
    page.get_by_role("button", name="Preview the CSV").click()
    expect(page.locator("#f-csv_file-error")).to_contain_text("too large")
    huge = b"x" * (5 * 1024 * 1024)  # past the server's 4 MiB body limit too
    page.get_by_label("syslinux.cfg", exact=True).set_input_files(
        files=[{"name": "syslinux.cfg", "mimeType": "text/plain", "buffer": huge}]
    )
    page.get_by_role("button", name="Preview the syslinux.cfg").click()
    expect(page.locator("#f-cfg_file-error")).to_contain_text("too large")


def test_a_profile_is_edited_and_the_event_names_the_admin(console: Console, page: Page) -> None:
    _profile(console, "editme")
    console.login(page, "ada")
    page.goto(console.url("/ui/profiles"))
    page.get_by_role("link", name="Edit editme").click()
    assert unlabelled_controls(page) == []
    page.get_by_label("Options (dot-options)").fill("quiet ip.300.1.1.1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-options-error")).to_contain_text("not an IPv4 address")
    page.get_by_label("Options (dot-options)").fill("quiet keyboard.de_CH")
    page.get_by_label("Description").fill("edited")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('tr[data-profile="editme"]')).to_contain_text("quiet keyboard.de_CH")
    with server_store(console.server.data_dir) as store:
        saved = [e for e in store.list_events(None, 50) if e.kind == "profile.saved"]
        assert store.get_profile("editme").description == "edited"
    assert saved[0].actor == "ada"
