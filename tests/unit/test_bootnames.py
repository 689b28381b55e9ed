"""Boot names (provisioner.bootnames): each written and read in one place, and DHCP
offers only loader names the boot tree serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.bootnames import (
    LOADERS,
    base_url,
    cmdline_initrd,
    config_name,
    config_path,
    join_initrd,
    loader_for,
    mac_from_config_name,
    server_url,
    split_initrd,
)
from provisioner.bootparams import Options
from provisioner.dhcp.boot import boot_file
from provisioner.domain import normalize_mac
from provisioner.errors import ValidationError
from tests.unit.test_dhcp_policy import config, request
from tftp.files import build_tree, resolve
from tftp.routes import File

MAC = "52:54:00:c0:02:01"


def test_config_name_is_01_and_the_dashed_mac_for_any_spelling() -> None:
    for spelling in (MAC, "52-54-00-C0-02-01", "5254.00c0.0201", "525400C00201"):
        assert config_name(spelling) == "01-52-54-00-c0-02-01"
    assert config_path(MAC) == "pxelinux.cfg/01-52-54-00-c0-02-01"
    with pytest.raises(ValidationError):
        config_name("not a mac")


@pytest.mark.parametrize(
    "name",
    [
        "01-52-54-00-c0-02-01",
        "01-52-54-00-C0-02-01",
        "pxelinux.cfg/01-52-54-00-c0-02-01",
        "efi64/pxelinux.cfg/01-52-54-00-C0-02-01",
    ],
)
def test_the_mac_is_read_back_from_a_config_name_bare_or_in_either_tree(name: str) -> None:
    assert mac_from_config_name(name) == MAC


@pytest.mark.parametrize(
    "name",
    [
        "default",
        "pxelinux.cfg/default",
        "C000025",  # a hex IP
        "564d4b55-3a1b-4c41-9a0e-2f5e3c6e0c11",  # a UUID
        "02-52-54-00-c0-02-01",  # not ARP type 1
        "01-52-54-00-c0-02",
        "01-52-54-00-c0-02-01-ff",
        "01-52:54:00:c0:02:01",
        "01-525400c00201",
        "01-52-54-00-c0-02-0g",
        "other/pxelinux.cfg/01-52-54-00-c0-02-01",
        "pxelinux.cfg/01-52-54-00-c0-02-01/x",
        "01-52-54-00-c0-02-01\n",
    ],
)
def test_anything_else_has_no_mac(name: str) -> None:
    assert mac_from_config_name(name) is None


@given(st.binary(min_size=6, max_size=6).filter(lambda b: not b[0] & 1 and any(b)))
def test_config_name_and_mac_from_config_name_round_trip(raw: bytes) -> None:
    mac = normalize_mac(raw.hex())
    assert mac_from_config_name(config_name(mac)) == mac
    assert mac_from_config_name(config_name(mac).upper()) == mac
    assert mac_from_config_name("efi64/" + config_path(mac)) == mac


# -- the loader catalogue ----------------------------------------------------------------------


@pytest.fixture
def full_tree(tmp_path: Path) -> object:
    """A loaders_dir holding every loader of the catalogue (arm64 too)."""
    loaders = tmp_path / "loaders"
    for loader in LOADERS:
        path = loaders / loader.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(loader.path.encode())
    return build_tree(tmp_path / "data", str(loaders))


def _offered(arch: int, vendor: str, **loaders: str) -> str | None:
    req = request(arch=arch, vendor=f"{vendor}:Arch:{arch:05d}:UNDI:003016")
    found = boot_file(req, config(**loaders), known=True)
    return None if found is None else found.name.removeprefix("http://192.0.2.1:8080/boot/files/")


@pytest.mark.parametrize("arch", range(25))
@pytest.mark.parametrize("vendor", ["PXEClient", "HTTPClient"])
@pytest.mark.parametrize(
    "loaders", [{}, {"bios_loader": "ipxe", "uefi_loader": "ipxe"}], ids=["default", "ipxe"]
)
def test_every_loader_dhcp_offers_is_served_by_the_boot_tree(
    full_tree: object, arch: int, vendor: str, loaders: dict[str, str]
) -> None:
    name = _offered(arch, vendor, **loaders)
    if name is None:
        return  # an architecture we have no loader for: DHCP stays silent
    route = resolve(full_tree, name)  # type: ignore[arg-type]
    assert isinstance(route, File), name
    assert Path(route.path).read_bytes() == name.encode()


def test_arm64_gets_arm64_ipxe_over_pxe_and_http_boot() -> None:
    assert _offered(11, "PXEClient") == "arm64/snponly.efi"
    assert _offered(11, "PXEClient", uefi_loader="ipxe") == "arm64/snponly.efi"
    assert _offered(19, "HTTPClient") == "arm64/ipxe.efi"
    assert _offered(16, "HTTPClient") == "ipxe.efi"
    assert loader_for(6, "ipxe") is None  # 32-bit UEFI: nothing


def test_the_tree_names_every_catalogue_loader_it_lacks(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "data", str(tmp_path / "empty"))
    assert {lo.path for lo in LOADERS} <= set(tree.missing)


# -- the base URL -----------------------------------------------------------------------------


def test_the_base_url_is_the_server_ip_else_where_the_request_arrived() -> None:
    assert base_url("192.0.2.1", 8080) == "http://192.0.2.1:8080"
    assert base_url("2001:db8::1", 80) == "http://[2001:db8::1]:80"
    # the setting wins over both ways a request can say where it arrived
    assert server_url("192.0.2.1", 8080, host_url="http://h:1/", local_ip="10.0.0.1") == (
        "http://192.0.2.1:8080"
    )
    assert server_url("", 8080, host_url="http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
    assert server_url("", 8080, local_ip="127.0.0.1") == "http://127.0.0.1:8080"
    assert server_url("", 8080, local_ip="0.0.0.0") is None
    assert server_url("", 8080) is None


# -- initrd -----------------------------------------------------------------------------------


def test_initrd_is_a_tuple_with_the_comma_form_only_at_the_edges() -> None:
    assert split_initrd("a.img,b/c.img") == ("a.img", "b/c.img")
    assert split_initrd(None) == split_initrd("") == ()
    assert join_initrd(("a.img", "b.img")) == "a.img,b.img"
    assert join_initrd(()) is None
    assert split_initrd("a.img,http://s/b.img", "initrd") == ("a.img", "http://s/b.img")
    with pytest.raises(ValidationError, match="initrd"):
        split_initrd("a.img,,b.img", "initrd")
    with pytest.raises(ValidationError, match="initrd"):
        split_initrd("../x.img", "initrd")
    assert cmdline_initrd(Options.parse("initrd=a.img,b.img quiet initrd=c.img")) == (
        "a.img",
        "b.img",
        "c.img",
    )
