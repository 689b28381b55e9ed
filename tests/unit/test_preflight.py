"""The preflight check as pure functions: a node or profile and a World in,
problems out (docs/preflight.md has the table these tests follow)."""

from __future__ import annotations

from ipaddress import IPv4Network

from provisioner.bootparams import Options
from provisioner.domain import Action, Bundle, BundleFile, Node, Profile, Release
from provisioner.errors import PreflightConflict, PreflightError
from provisioner.preflight import (
    Problem,
    World,
    check_node,
    check_profile,
    dhcp_subnet,
    new_errors,
    rack,
    refusal,
    removed_problems,
)

R = Release("avbox", "2.0", "avbox-2.0.squashfs", 10, "0" * 64)
MAC, OTHER = "52:54:00:c0:02:01", "52:54:00:c0:02:02"


def world(
    *nodes: Node,
    profiles: tuple[Profile, ...] = (),
    bundles: tuple[Bundle, ...] = (),
    subnets: tuple[IPv4Network, ...] = (),
    boot: frozenset[str] = frozenset({"vmlinuz", "initrd.img"}),
) -> World:
    return World.of(
        nodes,
        {p.name: p for p in profiles},
        {b.name: b for b in bundles},
        {R.ref: R},
        dhcp_subnets=subnets,
        boot_file=boot.__contains__,
    )


def node(options: str = "", **fields: object) -> Node:
    return Node(mac=str(fields.pop("mac", MAC)), options=Options.parse(options), **fields)  # type: ignore[arg-type]


def codes(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [(p.severity, p.code, p.field) for p in problems]


def test_a_node_with_a_release_and_nothing_odd_has_no_problem() -> None:
    n = node("auto ip.192.0.2.50 submask.255.255.255.0 gw.192.0.2.1", release=R.ref)
    assert check_node(n, world(n)) == []


def test_install_or_wipe_without_a_release_is_an_error_naming_release() -> None:
    for action in (Action.INSTALL, Action.WIPE):
        n = node("auto", action=action)
        assert codes(check_node(n, world(n))) == [("error", "install-without-release", "release")]
    p = Profile("p")
    n = node(profile="p")
    [problem] = check_node(n, world(n, profiles=(p,)))
    assert "neither the node nor its profile" in problem.message
    local = node(action=Action.LOCAL)
    assert check_node(local, world(local)) == []


def test_a_profiles_release_is_enough() -> None:
    p = Profile("p", release=R.ref)
    n = node(profile="p")
    assert check_node(n, world(n, profiles=(p,))) == []


def test_rollback_needs_the_other_slot_the_agent_reported() -> None:
    never = node(release=R.ref, action=Action.ROLLBACK)
    assert codes(check_node(never, world(never))) == [("error", "rollback-without-slot", "action")]
    one = node(release=R.ref, action=Action.ROLLBACK, slot_a="avbox:2.0", active_slot="A")
    [problem] = check_node(one, world(one))
    assert "only slot A (avbox:2.0)" in problem.message
    two = node(release=R.ref, action=Action.ROLLBACK, slot_a="a:1", slot_b="a:2", active_slot="B")
    assert check_node(two, world(two)) == []


def test_copy_words_no_bundle_holds_are_warnings() -> None:
    n = node("copyiso.tc.iso", release=R.ref)
    assert codes(check_node(n, world(n))) == [("warning", "copy-without-bundle", "options.copyiso")]
    b = Bundle("tc", iso="tc.iso", files=(BundleFile("iso", "tc.iso", 1, "0" * 64, "iso9660"),))
    held = node("copyiso.tc.iso", release=R.ref, bundle="tc")
    assert check_node(held, world(held, bundles=(b,))) == []
    other = node("copydef.x.def", release=R.ref, bundle="tc")
    [problem] = check_node(other, world(other, bundles=(b,)))
    assert (problem.field, "bundle tc does not hold it" in problem.message) == (
        "options.copydef",
        True,
    )


def test_a_bundle_file_not_uploaded_is_a_warning_for_an_install() -> None:
    b = Bundle("tc", iso="tc.iso")
    n = node(release=R.ref, bundle="tc")
    assert codes(check_node(n, world(n, bundles=(b,)))) == [
        ("warning", "bundle-file-not-uploaded", "bundle")
    ]


def test_two_nodes_with_one_ip_are_a_conflict_for_both() -> None:
    a = node("ip.192.0.2.50", release=R.ref)
    p = Profile("p", options=Options.parse("ip.192.0.2.50"), release=R.ref)
    b = node(mac=OTHER, profile="p")  # the same address, from its profile
    w = world(a, b, profiles=(p,))
    [problem] = check_node(a, w)
    assert (problem.code, problem.field, problem.conflict) == ("duplicate-ip", "options.ip", True)
    assert OTHER in problem.message
    assert "(from profile p)" in check_node(b, w)[0].message
    assert set(rack(w)) == {MAC, OTHER}


def test_a_gateway_outside_the_subnet_is_an_error() -> None:
    n = node("ip.192.0.2.50 submask.255.255.255.0 gw.198.51.100.1", release=R.ref)
    assert codes(check_node(n, world(n))) == [("error", "gateway-outside-subnet", "options.gw")]
    wide = node("ip.10.20.3.4 submask.255.255.0.0 gw.10.20.0.1", release=R.ref)
    assert check_node(wide, world(wide)) == []
    # no submask: the installer assumes /24, and so does the check
    assumed = node("ip.10.20.3.4 gw.10.20.0.1", release=R.ref)
    [problem] = check_node(assumed, world(assumed))
    assert "the installer assumes 255.255.255.0" in problem.message


def test_an_ip_outside_the_dhcp_subnet_is_a_warning_only_when_the_subnet_is_known() -> None:
    n = node("ip.198.51.100.7", release=R.ref)
    served = dhcp_subnet("full", "255.255.255.0", "192.0.2.1")
    assert served == (IPv4Network("192.0.2.0/24"),)
    assert codes(check_node(n, world(n, subnets=served))) == [
        ("warning", "ip-outside-dhcp", "options.ip")
    ]
    assert check_node(n, world(n)) == []
    assert dhcp_subnet("proxy", "255.255.255.0", "192.0.2.1") == ()
    assert dhcp_subnet("full", "", "192.0.2.1") == ()


def test_a_kernel_or_initrd_missing_from_the_boot_tree_is_a_warning() -> None:
    p = Profile("p", kernel="avbox/vmlinuz", initrd=("initrd.img", "extra.img"), release=R.ref)
    w = world(profiles=(p,))
    assert codes(check_profile(p, w)) == [
        ("warning", "boot-file-missing", "kernel"),
        ("warning", "boot-file-missing", "initrd"),
    ]
    url = Profile("u", kernel="http://192.0.2.1/vmlinuz", release=R.ref)
    assert check_profile(url, world(profiles=(url,))) == []
    n = node(profile="p")
    assert [x.field for x in check_node(n, world(n, profiles=(p,)))] == ["profile", "profile"]
    local = node(profile="p", action=Action.LOCAL)  # boots its disk: the kernel is not used
    assert check_node(local, world(local, profiles=(p,))) == []


def test_an_imported_profile_without_a_release_is_a_warning() -> None:
    p = Profile("avbox1", initrd=("initrd.img",))
    assert codes(check_profile(p, world(profiles=(p,)), imported=True)) == [
        ("warning", "profile-without-release", "release")
    ]
    assert check_profile(p, world(profiles=(p,))) == []


def test_removing_a_key_the_profile_gives_is_a_warning_naming_the_profile() -> None:
    p = Profile("p", options=Options.parse("gw.192.0.2.1 quiet"), release=R.ref)
    n = node(profile="p")
    w = world(n, profiles=(p,))
    [gw] = removed_problems(n, {"gw"}, w)
    assert (gw.code, gw.field) == ("unset-from-profile", "options.gw")
    assert "profile p gives gw.192.0.2.1" in gw.message
    assert codes(removed_problems(n, set(), w, asked={"quiet", "lang"})) == [
        ("warning", "unset-not-set", "options.lang"),
        ("warning", "unset-from-profile", "options.quiet"),
    ]
    own = node("gw.192.0.2.9", profile="p")  # the node's own value overrides the profile's
    assert removed_problems(own, {"gw"}, world(own, profiles=(p,))) == []


def test_a_profile_change_is_refused_only_for_errors_it_brings_to_its_nodes() -> None:
    p = Profile("p", release=R.ref)
    a, b = node(profile="p"), node(mac=OTHER, profile="p")
    w = world(a, b, profiles=(p,))
    same_ip = Profile("p", options=Options.parse("ip.192.0.2.50"), release=R.ref)
    assert {(n.mac, x.code) for n, x in new_errors(same_ip, w)} == {
        (MAC, "duplicate-ip"),
        (OTHER, "duplicate-ip"),
    }
    no_release = Profile("p")
    assert [x.code for _, x in new_errors(no_release, w)] == ["install-without-release"] * 2
    assert new_errors(Profile("p", release=R.ref, description="x"), w) == []


def test_refusal_carries_every_problem_and_is_a_conflict_for_a_duplicate_ip() -> None:
    a = node("ip.192.0.2.50 gw.198.51.100.1", release=R.ref)
    b = node("ip.192.0.2.50", mac=OTHER, release=R.ref)
    found = check_node(a, world(a, b))
    exc = refusal(found)
    assert isinstance(exc, PreflightConflict)
    assert exc.field == "options.ip"
    assert [p["code"] for p in exc.problems] == ["duplicate-ip", "gateway-outside-subnet"]
    plain = refusal(check_node(node(), world()))
    assert isinstance(plain, PreflightError)
    assert not isinstance(plain, PreflightConflict)
    assert refusal([]) is None


def test_names_the_store_does_not_know_are_left_to_the_store() -> None:
    n = node(profile="missing")
    assert check_node(n, world(n)) == []


def test_a_keyboard_or_language_the_installed_system_cannot_take_is_an_error() -> None:
    n = node("keyboard.klingon lang.tlh", release=R.ref)
    assert codes(check_node(n, world(n))) == [
        ("error", "unknown-keyboard", "options.keyboard"),
        ("error", "unknown-language", "options.lang"),
    ]
    ok = node("keyboard.de_CH lang.de", release=R.ref)
    assert check_node(ok, world(ok)) == []
    p = Profile("avbox", options=Options.parse("keyboard.klingon"))
    assert codes(check_profile(p, world(profiles=(p,)))) == [
        ("error", "unknown-keyboard", "options.keyboard")
    ]
