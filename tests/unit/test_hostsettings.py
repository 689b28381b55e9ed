"""The node's settings as files of the installed system (provisioner.hostsettings)."""

from __future__ import annotations

import io
import tarfile

import pytest

from provisioner.bootparams import Options
from provisioner.errors import ValidationError
from provisioner.hostsettings import (
    KEYBOARDS,
    LANGUAGES,
    host_settings,
    settings_files,
    settings_tar,
)

MAC = "52:54:00:c0:02:07"
PAPER = "keyboard.de_CH lang.de auto ip.192.0.2.51 submask.255.255.255.0 gw.192.0.2.1 dns.192.0.2.1"


def test_the_papers_line_becomes_debian_files() -> None:
    files = settings_files(host_settings(MAC, "rack1-node7", Options.parse(PAPER)))
    assert files["etc/hostname"] == "rack1-node7\n"
    assert "127.0.1.1\track1-node7\n" in files["etc/hosts"]
    assert files["etc/systemd/network/10-provisioner.network"] == (
        f"[Match]\nMACAddress={MAC}\n\n[Network]\nAddress=192.0.2.51/24\n"
        "Gateway=192.0.2.1\nDNS=192.0.2.1\n"
    )
    assert 'XKBLAYOUT="ch"\nXKBVARIANT="de"\n' in files["etc/default/keyboard"]
    assert files["etc/default/locale"] == "LANG=de_DE.UTF-8\n"
    assert files["etc/resolv.conf"] == "nameserver 192.0.2.1\n"


def test_no_ip_means_dhcp_and_no_keyboard_or_locale_file() -> None:
    files = settings_files(host_settings(MAC, None, Options()))
    assert files["etc/hostname"] == "box-525400c00207\n"
    assert files["etc/systemd/network/10-provisioner.network"].endswith("[Network]\nDHCP=ipv4\n")
    assert not {"etc/default/keyboard", "etc/default/locale", "etc/resolv.conf"} & set(files)


def test_a_release_without_networkd_gets_ifupdown() -> None:
    files = settings_files(host_settings(MAC, "n1", Options.parse(PAPER)), networkd=False)
    assert "etc/systemd/network/10-provisioner.network" not in files
    assert files["etc/network/interfaces"] == (
        "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n"
        "    address 192.0.2.51\n    netmask 255.255.255.0\n    gateway 192.0.2.1\n"
    )


def test_the_hostname_option_wins_over_the_nodes_name() -> None:
    hs = host_settings(MAC, "n1", Options.parse("hostname.web3.example.org"))
    assert hs.hostname == "web3"


@pytest.mark.parametrize(
    ("options", "field"),
    [("keyboard.klingon", "options.keyboard"), ("lang.tlh", "options.lang"),
     ("hostname.-bad", "options.hostname")],
)  # fmt: skip
def test_values_the_table_does_not_know_are_errors_naming_the_option(
    options: str, field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        host_settings(MAC, None, Options.parse(options))
    assert err.value.field == field


def test_every_table_value_is_a_plain_word() -> None:
    for layout, variant in KEYBOARDS.values():
        assert layout.isalpha()
        assert variant == "" or variant.isalpha()
    assert all(v.endswith(".UTF-8") for v in LANGUAGES.values())


def test_the_tar_is_deterministic_and_holds_the_files() -> None:
    files = settings_files(host_settings(MAC, "n1", Options.parse(PAPER)), node_conf={"MAC": MAC})
    data = settings_tar(files)
    assert data == settings_tar(dict(reversed(list(files.items()))))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert {m.mtime for m in members.values()} == {0}
        f = tar.extractfile("etc/provisioner/node.conf")
        assert f is not None
        assert f.read() == f"MAC={MAC}\n".encode()
        assert members["etc/systemd/network"].isdir()
