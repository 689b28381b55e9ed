"""DHCP settings (provisioner.dhcp.config): the start-up checks and what the policy
is given, each bad value a ConfigError naming its setting."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from provisioner.config import load_settings
from provisioner.daemons import dhcp_config
from provisioner.errors import ConfigError


def test_dhcp_config_refuses_to_run_without_a_mode_and_an_interface() -> None:
    with pytest.raises(ConfigError, match="DHCP is off"):
        dhcp_config(load_settings({}, overrides={"interface": "br0"}))
    with pytest.raises(ConfigError, match="interface"):
        dhcp_config(load_settings({}, overrides={"dhcp": "proxy"}))


@pytest.mark.parametrize(
    ("setting", "value", "match"),
    [
        ("dhcp_pool", "192.0.2.10", "START-END"),
        ("dhcp_pool", "192.0.2.10-192.0.2.5", "ends before"),
        ("dhcp_pool", "192.0.2.10-x", "not an IPv4"),
        ("dhcp_netmask", "255.0.255.0", "not a netmask"),
        ("dhcp_router", "gw", "not an IPv4"),
        ("dhcp_lease_time", 5, "at least 60"),
    ],
)
def test_bad_dhcp_settings_are_config_errors_naming_the_setting(
    setting: str, value: object, match: str
) -> None:
    settings = load_settings(
        {}, overrides={"dhcp": "full", "interface": "br0", "server_ip": "192.0.2.1", setting: value}
    )
    with pytest.raises(ConfigError, match=match) as err:
        dhcp_config(settings)
    assert err.value.source == setting


def test_server_ip_falls_back_to_the_interface_address() -> None:
    settings = load_settings(
        {}, overrides={"dhcp": "proxy", "interface": "br0", "http": "0.0.0.0:81"}
    )
    cfg = dhcp_config(settings, IPv4Address("192.0.2.9"), IPv4Address("255.255.255.0"))
    assert (cfg.server_ip, cfg.netmask, cfg.http_base) == (
        IPv4Address("192.0.2.9"),
        IPv4Address("255.255.255.0"),
        "http://192.0.2.9:81",
    )
    with pytest.raises(ConfigError, match="no IPv4 address"):
        dhcp_config(settings)


def test_observe_mode_needs_no_address_on_its_interface() -> None:
    settings = load_settings({}, overrides={"dhcp": "observe", "interface": "mirror0"})
    assert dhcp_config(settings).server_ip == IPv4Address("0.0.0.0")
