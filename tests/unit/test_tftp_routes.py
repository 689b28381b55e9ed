"""The boot tree: what each name resolves to, and that nothing outside the roots leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.bootnames import mac_from_config_name
from tftp import files
from tftp.files import build_tree, resolve
from tftp.routes import Denied, File, Generated, Missing, Tree


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    boot = tmp_path / "data" / "boot"
    boot.mkdir(parents=True)
    (boot / "vmlinuz").write_bytes(b"kernel")
    (boot / "sub").mkdir()
    (boot / "sub" / "initrd.img").write_bytes(b"initrd")
    (tmp_path / "secret").write_text("outside")
    (boot / "escape").symlink_to(tmp_path / "secret")
    (boot / "inside").symlink_to(boot / "vmlinuz")
    (boot / "dirlink").symlink_to(tmp_path)
    loaders = tmp_path / "loaders"
    (loaders / "efi64").mkdir(parents=True)
    (loaders / "pxelinux.0").write_bytes(b"pxe")
    (loaders / "ldlinux.c32").write_bytes(b"ld")
    (loaders / "efi64" / "syslinux.efi").write_bytes(b"efi")
    (loaders / "efi64" / "ldlinux.e64").write_bytes(b"e64")
    (loaders / "ipxe.efi").symlink_to(tmp_path / "secret")  # exact names may point anywhere
    (loaders / "evil.c32").symlink_to(tmp_path / "secret")  # globbed modules may not
    return build_tree(tmp_path / "data", str(loaders))


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "../secret",
        "sub/../../secret",
        "/etc/passwd",
        "a\\..\\b",
        "vmlinuz\0.txt",
        "./vmlinuz",
        "sub//initrd.img",
        "sub/",
        "",
        "line\nbreak",
        "caf\udce9",  # a non-UTF-8 byte, as the codec decodes it
        "x" * 2000,
    ],
)
def test_hostile_names_are_denied(tree: Tree, name: str) -> None:
    assert isinstance(resolve(tree, name), Denied)


def test_a_symlink_in_the_data_dir_pointing_outside_is_denied(tree: Tree) -> None:
    assert resolve(tree, "escape") == Denied("resolves outside the boot directory")
    assert isinstance(resolve(tree, "dirlink/secret"), Denied)


def test_a_symlink_that_stays_inside_the_data_dir_is_served(tree: Tree) -> None:
    route = resolve(tree, "inside")
    assert isinstance(route, File)
    assert route.path.endswith("/boot/vmlinuz")


def test_data_files_are_found_directly_and_under_the_efi64_prefix(tree: Tree) -> None:
    direct = resolve(tree, "sub/initrd.img")
    assert isinstance(direct, File)
    assert resolve(tree, "efi64/sub/initrd.img") == direct
    assert direct.root == tree.boot_root


def test_loaders_come_from_the_override_dir_with_the_trees_layout(tree: Tree) -> None:
    assert set(tree.loaders) == {
        "pxelinux.0",
        "ldlinux.c32",
        "efi64/syslinux.efi",
        "efi64/ldlinux.e64",
        "ipxe.efi",
    }
    route = resolve(tree, "efi64/syslinux.efi")
    assert isinstance(route, File)
    assert route.root is None
    assert Path(route.path).read_bytes() == b"efi"
    assert "evil.c32" not in tree.loaders
    assert set(tree.missing) == {
        "lpxelinux.0",
        "undionly.kpxe",
        "snponly.efi",
        "arm64/snponly.efi",  # every loader DHCP may offer, arm64 too
        "arm64/ipxe.efi",
    }


def test_pxelinux_cfg_names_are_generated_in_both_trees(tree: Tree) -> None:
    assert resolve(tree, "pxelinux.cfg/01-52-54-00-c0-02-01") == Generated("01-52-54-00-c0-02-01")
    assert resolve(tree, "efi64/pxelinux.cfg/default") == Generated("default")
    assert isinstance(resolve(tree, "pxelinux.cfg/a/b"), Missing)


def test_unknown_names_are_missing(tree: Tree) -> None:
    assert resolve(tree, "nope") == Missing()
    assert resolve(tree, "sub") == Missing()  # a directory is not a file


@pytest.mark.skipif(not Path("/usr/lib/PXELINUX/pxelinux.0").exists(), reason="no pxelinux")
def test_debian_loaders_are_located_automatically(tmp_path: Path) -> None:
    tree = build_tree(tmp_path)
    assert tree.loaders["pxelinux.0"] == "/usr/lib/PXELINUX/pxelinux.0"
    assert tree.loaders["ldlinux.c32"] == "/usr/lib/syslinux/modules/bios/ldlinux.c32"
    if Path("/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi").exists():
        assert tree.loaders["efi64/syslinux.efi"] == "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi"
        assert tree.loaders["efi64/ldlinux.e64"].endswith("/modules/efi64/ldlinux.e64")
    if Path("/usr/lib/ipxe/ipxe.efi").exists():
        assert tree.loaders["ipxe.efi"] == os.path.realpath("/usr/lib/ipxe/ipxe.efi")


def test_open_file_refuses_a_file_swapped_for_an_outside_symlink_after_resolving(
    tree: Tree,
) -> None:
    route = resolve(tree, "vmlinuz")
    assert isinstance(route, File)
    target = Path(route.path)
    target.unlink()
    target.symlink_to(Path(tree.boot_root).parent.parent / "secret")
    with pytest.raises(PermissionError, match="resolves outside"):  # the descriptor is checked
        files.open_file(route)


def test_open_file_rechecks_the_opened_descriptor_against_the_root(
    tree: Tree, tmp_path: Path
) -> None:
    route = File(str(tmp_path / "secret"), tree.boot_root)  # as if a parent dir was swapped
    with pytest.raises(PermissionError):
        files.open_file(route)


def test_open_file_returns_descriptor_and_size(tree: Tree) -> None:
    route = resolve(tree, "sub/initrd.img")
    assert isinstance(route, File)
    fd, size = files.open_file(route)
    try:
        assert (size, os.pread(fd, 10, 0)) == (6, b"initrd")
    finally:
        os.close(fd)


def test_the_mac_of_a_per_box_config_is_found_for_the_log() -> None:
    assert mac_from_config_name("pxelinux.cfg/01-52-54-00-C0-02-01") == "52:54:00:c0:02:01"
    assert mac_from_config_name("efi64/pxelinux.cfg/01-52-54-00-c0-02-01") == "52:54:00:c0:02:01"
    assert mac_from_config_name("pxelinux.cfg/default") is None


@given(st.text(max_size=80))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
def test_random_names_never_raise_and_never_leave_the_roots(tree: Tree, name: str) -> None:
    route = resolve(tree, name)
    if isinstance(route, File):
        assert route.path in tree.loaders.values() or route.path.startswith(tree.boot_root + "/")


@given(st.lists(st.sampled_from(["..", ".", "", "sub", "escape", "dirlink", "secret"]), max_size=6))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_paths_of_tricky_parts_never_reach_the_secret(tree: Tree, parts: list[str]) -> None:
    route = resolve(tree, "/".join(parts))
    assert not (isinstance(route, File) and route.path.endswith("/secret"))
