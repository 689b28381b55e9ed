"""Several subnets (provisioner.dhcp.subnets): the ``[[dhcp_subnets]]`` settings,
checked field by field; which subnet a request is for (giaddr, RFC 3527 link
selection, ciaddr, the receiving interface); what each subnet's clients get; and
the bounded once-a-minute log of relays from unconfigured subnets. Pure."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.config import load_settings
from provisioner.daemons import dhcp_config
from provisioner.dhcp.config import DhcpConfig
from provisioner.dhcp.leases import LeaseTable, Scope, Snapshot
from provisioner.dhcp.options import MessageType, Opt, encode_suboptions
from provisioner.dhcp.packet import Packet, parse
from provisioner.dhcp.policy import State
from provisioner.dhcp.subnets import OncePer, describe_pools, lease_table, select, snapshot
from provisioner.errors import ConfigError
from tests.support.dhcp import handle

NOW = 1_800_000_000.0
MAC = "52:54:00:c0:02:01"
OTHER = "52:54:00:c0:02:02"
RESERVED = "52:54:00:c0:02:09"
TOML = """
dhcp = "full"
interface = "br0"
dhcp_lease_time = 900
unknown_macs = "menu"

[[dhcp_subnets]]
subnet = "192.0.2.0/26"
pools = ["192.0.2.10-192.0.2.20"]
router = "192.0.2.1"

[[dhcp_subnets]]
subnet = "192.0.2.64/26"
pools = ["192.0.2.80-192.0.2.81", "192.0.2.90-192.0.2.90"]
router = "192.0.2.65"
dns_servers = ["192.0.2.66"]
domain = "rack2.lan"
lease_time = 600
next_server = "192.0.2.70"
uefi_loader = "ipxe"
reservations = { "52-54-00-C0-02-09" = "192.0.2.100" }

[[dhcp_subnets]]
subnet = "192.0.2.128/26"
pools = "192.0.2.140-192.0.2.150"
router = "192.0.2.129"
"""


def settings_file(tmp_path: Path, text: str = TOML) -> Path:
    path = tmp_path / "provisioner.toml"
    path.write_text(text)
    return path


def config(tmp_path: Path, text: str = TOML) -> DhcpConfig:
    settings = load_settings({}, settings_file(tmp_path, text))
    return dhcp_config(settings, IPv4Address("192.0.2.1"), IPv4Address("255.255.255.192"))


def state(cfg: DhcpConfig) -> State:
    return State(cfg, snapshot(cfg, []), lease_table(cfg, []))


def request(
    kind: MessageType = MessageType.DISCOVER,
    mac: str = MAC,
    giaddr: str = "0.0.0.0",
    options: dict[int, bytes] | None = None,
    **extra: object,
) -> Packet:
    opts = {Opt.MESSAGE_TYPE: bytes((kind,)), Opt.CLIENT_ARCH: struct.pack("!H", 7)}
    opts[Opt.VENDOR_CLASS] = b"PXEClient:Arch:00007:UNDI:003016"
    opts.update(options or {})
    chaddr = bytes.fromhex(mac.replace(":", ""))
    packet = Packet(op=1, xid=7, chaddr=chaddr, giaddr=IPv4Address(giaddr), options=opts, **extra)  # type: ignore[arg-type]
    return parse(packet.pack())


def offer(st: State, req: Packet) -> Packet:
    result = handle(req, 67, ("192.0.2.65", 67), st, NOW)
    assert result.reply is not None, result.why
    return parse(result.reply.pack())


# -- settings ---------------------------------------------------------------------------------


def test_subnets_come_from_the_toml_file_inheriting_what_they_do_not_set(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    direct, relayed, third = cfg.subnets
    assert str(relayed.network) == "192.0.2.64/26"
    assert relayed.cfg.lease_time == 600
    assert direct.cfg.lease_time == 900
    assert relayed.cfg.netmask == IPv4Address("255.255.255.192")
    assert relayed.reservations == ((RESERVED, IPv4Address("192.0.2.100")),)
    assert relayed.cfg.uefi_loader == "ipxe"
    assert direct.cfg.uefi_loader == "syslinux"
    assert len(third.pools) == 1


def test_subnets_are_also_taken_as_json_from_the_environment() -> None:
    env = {"PROVISIONER_DHCP_SUBNETS": '[{"subnet": "192.0.2.0/26"}]'}
    settings = load_settings(env, overrides={"dhcp": "full", "interface": "br0"})
    cfg = dhcp_config(settings, IPv4Address("192.0.2.1"))
    assert [str(s.network) for s in cfg.subnets] == ["192.0.2.0/26"]


@pytest.mark.parametrize(
    ("table", "field", "match"),
    [
        ('subnet = "192.0.2.0/26"\nrouter = "192.0.2.70"', "dhcp_subnets[0].router", "not a host"),
        (
            'subnet = "192.0.2.0/26"\npools = ["192.0.2.60-192.0.2.70"]',
            "dhcp_subnets[0].pools",
            "192.0.2.70 is not a host address",
        ),
        (
            'subnet = "192.0.2.0/26"\nreservations = { "52:54:00:c0:02:01" = "192.0.2.99" }',
            "dhcp_subnets[0].reservations.52:54:00:c0:02:01",
            "not a host address",
        ),
        ('subnet = "192.0.2.0/26"\nrouters = "192.0.2.1"', "dhcp_subnets[0].routers", "unknown"),
        (
            'subnet = "192.0.2.0/26"\nrouter = "192.0.2.1"\n'
            'reservations = { "52:54:00:c0:02:01" = "192.0.2.1" }',
            "dhcp_subnets[0].reservations.52:54:00:c0:02:01",
            "router",
        ),
        ('subnet = "192.0.2.0/26"\npools = "192.0.2.9"', "dhcp_subnets[0].pools", "START-END"),
        ('subnet = "192.0.2.0/26"\ndns_servers = 5', "dhcp_subnets[0].dns_servers", "not a list"),
        ('subnet = "192.0.2.1/26"', "dhcp_subnets[0].subnet", "host bits"),
        ('pools = ["192.0.2.2-192.0.2.3"]', "dhcp_subnets[0].subnet", "missing"),
        ('subnet = "192.0.2.0/26"\nlease_time = 10', "dhcp_subnets[0].lease_time", "at least"),
        ('subnet = "192.0.2.0/26"\nbios_loader = "grub"', "dhcp_subnets[0].bios_loader", "one of"),
    ],
)
def test_a_bad_subnet_is_an_error_naming_the_field(
    tmp_path: Path, table: str, field: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        config(tmp_path, f'dhcp = "full"\ninterface = "br0"\n[[dhcp_subnets]]\n{table}\n')
    assert err.value.source == field


def test_overlapping_pools_and_subnets_are_errors_naming_the_field(tmp_path: Path) -> None:
    two_pools = 'subnet = "192.0.2.0/26"\npools = ["192.0.2.2-192.0.2.9", "192.0.2.9-192.0.2.12"]'
    with pytest.raises(ConfigError, match="overlaps") as err:
        config(tmp_path, f'dhcp = "full"\ninterface = "br0"\n[[dhcp_subnets]]\n{two_pools}\n')
    assert err.value.source == "dhcp_subnets[0].pools"
    nets = '[[dhcp_subnets]]\nsubnet = "192.0.2.0/25"\n[[dhcp_subnets]]\nsubnet = "192.0.2.64/26"'
    with pytest.raises(ConfigError, match="overlaps") as err:
        config(tmp_path, f'dhcp = "full"\ninterface = "br0"\n{nets}\n')
    assert err.value.source == "dhcp_subnets[1].subnet"


def test_a_mac_or_an_address_reserved_twice_is_an_error_naming_the_second(
    tmp_path: Path,
) -> None:
    def two(first: str, second: str) -> str:
        return (
            'dhcp = "full"\ninterface = "br0"\n'
            f'[[dhcp_subnets]]\nsubnet = "192.0.2.0/26"\nreservations = {{ {first} }}\n'
            f'[[dhcp_subnets]]\nsubnet = "192.0.2.64/26"\nreservations = {{ {second} }}\n'
        )

    with pytest.raises(ConfigError, match="already reserved in dhcp_subnets") as err:
        config(tmp_path, two(f'"{MAC}" = "192.0.2.5"', f'"{MAC}" = "192.0.2.70"'))
    assert err.value.source == f"dhcp_subnets[1].reservations.{MAC}"
    with pytest.raises(ConfigError, match="already reserved for") as err:
        config(tmp_path, two(f'"{MAC}" = "192.0.2.5", "{OTHER}" = "192.0.2.5"', ""))
    assert err.value.source == "dhcp_subnets[0].reservations." + OTHER


def test_a_top_level_pool_beside_subnets_is_refused(tmp_path: Path) -> None:
    text = TOML.replace("dhcp_lease_time", 'dhcp_pool = "192.0.2.5-192.0.2.6"\ndhcp_lease_time')
    with pytest.raises(ConfigError) as err:
        config(tmp_path, text)
    assert err.value.source == "dhcp_pool"


# -- which subnet -----------------------------------------------------------------------------


def test_the_subnet_is_chosen_by_link_selection_then_giaddr_then_ciaddr_then_interface(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path)
    link = {Opt.RELAY_AGENT_INFO: encode_suboptions([(1, b"port1"), (5, bytes([192, 0, 2, 130]))])}

    def net(req: Packet) -> str:
        subnet = select(req, cfg)
        return str(subnet.network) if subnet else "none"

    assert net(request(giaddr="192.0.2.65", options=link)) == "192.0.2.128/26"
    assert net(request(giaddr="192.0.2.65")) == "192.0.2.64/26"
    assert net(request(ciaddr=IPv4Address("192.0.2.140"))) == "192.0.2.128/26"
    assert net(request()) == "192.0.2.0/26"
    assert net(request(giaddr="192.0.2.200")) == "none"


# -- what each subnet's clients get -----------------------------------------------------------


def test_each_subnet_offers_its_own_pool_router_dns_domain_lease_and_boot_server(
    tmp_path: Path,
) -> None:
    st = state(config(tmp_path))
    direct = offer(st, request())
    assert IPv4Address("192.0.2.10") <= direct.yiaddr <= IPv4Address("192.0.2.20")
    assert direct.options[Opt.ROUTER] == IPv4Address("192.0.2.1").packed
    assert direct.siaddr == IPv4Address("192.0.2.1")
    asked = {Opt.PARAM_REQUEST: bytes([Opt.DOMAIN_NAME])}
    relayed = offer(st, request(mac=OTHER, giaddr="192.0.2.65", options=asked))
    assert relayed.yiaddr in (IPv4Address("192.0.2.80"), IPv4Address("192.0.2.81"))
    assert relayed.options[Opt.ROUTER] == IPv4Address("192.0.2.65").packed
    assert relayed.options[Opt.DNS_SERVERS] == IPv4Address("192.0.2.66").packed
    assert relayed.options[Opt.DOMAIN_NAME] == b"rack2.lan"
    assert relayed.options[Opt.LEASE_TIME] == struct.pack("!I", 600)
    assert relayed.siaddr == IPv4Address("192.0.2.70")
    assert relayed.file != direct.file, "the subnet's own UEFI loader"
    assert relayed.file == b"snponly.efi"  # iPXE


def test_a_subnets_later_pool_is_used_when_the_first_is_full(tmp_path: Path) -> None:
    st = state(config(tmp_path))
    macs = [f"52:54:00:00:00:{i:02x}" for i in range(4)]
    got = [offer(st, request(mac=m, giaddr="192.0.2.65")).yiaddr for m in macs[:3]]
    assert sorted(map(str, got)) == ["192.0.2.80", "192.0.2.81", "192.0.2.90"]
    result = handle(request(mac=macs[3], giaddr="192.0.2.65"), 67, ("192.0.2.65", 67), st, NOW)
    assert result.reply is None
    assert "no free address" in result.why


def test_a_reservation_is_given_only_on_its_own_subnet(tmp_path: Path) -> None:
    st = state(config(tmp_path))
    assert offer(st, request(mac=RESERVED, giaddr="192.0.2.65")).yiaddr == IPv4Address(
        "192.0.2.100"
    )
    elsewhere = offer(st, request(mac=RESERVED, giaddr="192.0.2.129"))
    assert IPv4Address("192.0.2.140") <= elsewhere.yiaddr <= IPv4Address("192.0.2.150")


def test_a_request_for_an_address_of_another_subnet_is_nakked(tmp_path: Path) -> None:
    st = state(config(tmp_path))
    wanted = {Opt.REQUESTED_IP: IPv4Address("192.0.2.10").packed}
    reply = offer(st, request(MessageType.REQUEST, giaddr="192.0.2.65", options=wanted))
    assert reply.message_type == MessageType.NAK


def test_a_relay_from_no_configured_subnet_gets_nothing_and_a_rate_limited_warning(
    tmp_path: Path,
) -> None:
    st = state(config(tmp_path))
    result = handle(request(giaddr="192.0.2.200"), 67, ("192.0.2.200", 67), st, NOW)
    assert result.reply is None
    assert result.change is None
    assert result.warn
    assert result.once_per == "192.0.2.200"
    assert "192.0.2.200" in result.why


def test_without_subnets_relays_from_anywhere_get_the_single_pool(tmp_path: Path) -> None:
    text = 'dhcp = "full"\ninterface = "br0"\ndhcp_pool = "192.0.2.10-192.0.2.11"\n'
    cfg = config(tmp_path, text)
    assert cfg.subnets == ()
    reply = offer(State(cfg, Snapshot(), lease_table(cfg, [])), request(giaddr="198.51.100.1"))
    assert reply.yiaddr == IPv4Address("192.0.2.10")


# -- the log of refused relays ------------------------------------------------------------------


def test_once_per_allows_a_key_once_a_minute() -> None:
    once = OncePer(period=60)
    assert once.allow("192.0.2.200", 0.0)
    assert not once.allow("192.0.2.200", 59.0)
    assert once.allow("192.0.2.201", 59.0)
    assert once.allow("192.0.2.200", 60.0)


def test_once_per_remembers_a_bounded_number_of_sources() -> None:
    once = OncePer(period=60, limit=100)
    allowed = sum(once.allow(f"10.0.{i // 256}.{i % 256}", 1.0) for i in range(10_000))
    assert allowed == 100
    assert len(once) == 100
    assert once.suppressed == 9_900
    assert once.allow("10.9.9.9", 61.0)  # the old ones aged out
    assert len(once) == 1


def test_the_start_up_line_names_each_subnet_and_its_pools(tmp_path: Path) -> None:
    assert describe_pools(config(tmp_path)) == (
        ", subnets 192.0.2.0/26 (192.0.2.10-192.0.2.20), "
        "192.0.2.64/26 (192.0.2.80-192.0.2.81 192.0.2.90-192.0.2.90), "
        "192.0.2.128/26 (192.0.2.140-192.0.2.150)"
    )


# -- one lease table, several subnets ---------------------------------------------------------

NET_A, NET_B = IPv4Network("192.0.2.64/29"), IPv4Network("192.0.2.72/29")
BASE = int(NET_A.network_address)
SCOPES = (Scope(NET_A, ((BASE + 2, BASE + 5),)), Scope(NET_B, ((BASE + 10, BASE + 13),)))
STEP_MACS = [f"52:54:00:00:01:{i:02x}" for i in range(5)]


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["discover", "request", "release", "tick"]),
            st.integers(0, len(STEP_MACS) - 1),
            st.integers(0, 1),  # which subnet the client is on
            st.integers(0, 15),  # an address offset in either subnet
        ),
        max_size=60,
    )
)
def test_offers_stay_in_the_clients_subnet_and_no_address_goes_to_two_macs(
    steps: list[tuple[str, int, int, int]],
) -> None:
    reserved = IPv4Address(BASE + 6)  # in A, outside its pool
    snap = Snapshot.build([], fixed=[(STEP_MACS[0], reserved)])
    table = LeaseTable(
        None, pools=[(IPv4Address(a), IPv4Address(b)) for sc in SCOPES for a, b in sc.ranges]
    )
    now = 0.0
    for action, m, s, off in steps:
        mac, scope, ip = STEP_MACS[m], SCOPES[s], BASE + off
        if action == "discover":
            hold = table.choose(mac, snap, ip, now, 60, scope=scope)
            if hold is not None:
                assert hold.ip in scope
                assert (hold.ip == int(reserved)) == (mac == STEP_MACS[0] and s == 0)
            table.apply(hold)
        elif action == "request" and ip in scope and table.assignable(ip, mac, snap, now):
            table.bind(ip, mac, now, 120)
        elif action == "release":
            table.release(ip, mac)
        else:
            now += 25
            table.expire_holds(now)
        live = [int(lease.ip) for lease in table.leases() if lease.expires > now]
        assert len(live) == len(set(live))
