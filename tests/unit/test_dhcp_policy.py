"""DHCP policy (provisioner.dhcp.policy, .boot): what each kind of client gets in
proxy and full mode. Pure functions: packets in, packets out."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest

from provisioner.bootparams import Options
from provisioner.dhcp.config import DhcpConfig
from provisioner.dhcp.leases import LeaseTable, NodeNet, Snapshot, node_net
from provisioner.dhcp.options import MessageType, Opt, PxeVendorOptions
from provisioner.dhcp.packet import Packet, parse
from provisioner.dhcp.policy import (
    BROADCAST,
    State,
    decide,
    describe_reply,
    describe_request,
)
from tests.support.dhcp import handle

SERVER = IPv4Address("192.0.2.1")
MAC = "52:54:00:c0:02:01"
OTHER = "52:54:00:c0:02:02"
NOW = 1_800_000_000.0
UUID = bytes(1) + bytes(range(16))


def config(mode: str = "proxy", **kw: object) -> DhcpConfig:
    base: dict[str, object] = {"mode": mode, "server_ip": SERVER, "http_port": 8080}
    if mode == "full":
        base |= {
            "pool": (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.102")),
            "netmask": IPv4Address("255.255.255.0"),
            "router": SERVER,
            "dns_servers": (SERVER,),
        }
    return DhcpConfig(**(base | kw))  # type: ignore[arg-type]


def state(cfg: DhcpConfig, nodes: dict[str, NodeNet] | None = None) -> State:
    snap = Snapshot.build((nodes or {}).items(), [cfg.server_ip])
    return State(cfg, snap, LeaseTable(cfg.pool, (), [cfg.server_ip]))


def request(
    kind: MessageType = MessageType.DISCOVER,
    mac: str = MAC,
    *,
    arch: int | None = 7,
    vendor: str | None = None,
    ipxe: bool = False,
    **extra: object,
) -> Packet:
    opts: dict[int, bytes] = {Opt.MESSAGE_TYPE: bytes((kind,))}
    if arch is not None:
        opts[Opt.CLIENT_ARCH] = struct.pack("!H", arch)
        vendor = vendor or f"PXEClient:Arch:{arch:05d}:UNDI:003016"
    if vendor:
        opts[Opt.VENDOR_CLASS] = vendor.encode()
    if ipxe:
        opts[Opt.USER_CLASS] = b"iPXE"
    opts[Opt.CLIENT_UUID] = UUID
    opts.update(extra.pop("options", {}))  # type: ignore[call-overload]
    return Packet(
        op=1, xid=0x1234, chaddr=bytes.fromhex(mac.replace(":", "")), options=opts, **extra
    )  # type: ignore[arg-type]


def answer(
    req: Packet, st: State, port: int = 67, source: tuple[str, int] = ("0.0.0.0", 68)
) -> Packet:
    result = handle(parse(req.pack()), port, source, st, NOW)  # through the codec, as on the wire
    assert result.reply is not None, result.why
    return parse(result.reply.pack())


def silent(req: Packet, st: State, port: int = 67) -> str:
    result = handle(req, port, ("0.0.0.0", 68), st, NOW)
    assert result.reply is None, describe_reply(result.reply)
    return result.why


# -- proxy mode -------------------------------------------------------------------------------


def test_proxy_offer_to_a_bios_client_names_pxelinux_and_bypasses_discovery() -> None:
    st = state(config(), {MAC: NodeNet()})
    offer = answer(request(arch=0), st)
    assert offer.message_type == MessageType.OFFER
    assert offer.yiaddr == IPv4Address(0)  # never an address: the site's server does that
    assert (offer.siaddr, offer.file, offer.sname) == (SERVER, b"pxelinux.0", b"192.0.2.1")
    assert offer.options[Opt.VENDOR_CLASS] == b"PXEClient"
    assert offer.options[Opt.SERVER_ID] == SERVER.packed
    assert offer.options[Opt.CLIENT_UUID] == UUID
    assert PxeVendorOptions.decode(offer.options[Opt.VENDOR_SPECIFIC]).discovery_control == 8
    assert Opt.LEASE_TIME not in offer.options


@pytest.mark.parametrize("arch", [7, 9])
def test_proxy_offer_to_a_uefi_client_names_syslinux_efi_without_option_43(arch: int) -> None:
    offer = answer(request(arch=arch), state(config(), {MAC: NodeNet()}))
    assert offer.file == b"efi64/syslinux.efi"
    assert offer.siaddr == SERVER
    assert Opt.VENDOR_SPECIFIC not in offer.options  # EDK2 then asks on port 4011 (BINL)


@pytest.mark.parametrize(
    ("arch", "loaders", "expected"),
    [
        (0, {"bios_loader": "ipxe"}, b"undionly.kpxe"),
        (7, {"uefi_loader": "ipxe"}, b"snponly.efi"),
        (9, {"uefi_loader": "ipxe"}, b"snponly.efi"),
        (11, {}, b"arm64/snponly.efi"),
        (11, {"uefi_loader": "ipxe"}, b"arm64/snponly.efi"),
    ],
)
def test_architecture_and_loader_settings_pick_the_boot_file(
    arch: int, loaders: dict[str, str], expected: bytes
) -> None:
    assert answer(request(arch=arch), state(config(**loaders), {MAC: NodeNet()})).file == expected


def test_an_architecture_without_a_loader_gets_no_answer() -> None:
    assert "loader" in silent(request(arch=6), state(config(), {MAC: NodeNet()}))


def test_the_architecture_is_read_from_the_vendor_class_when_option_93_is_missing() -> None:
    req = request(arch=None, vendor="PXEClient:Arch:00007:UNDI:003016")
    assert answer(req, state(config(), {MAC: NodeNet()})).file == b"efi64/syslinux.efi"


def test_proxy_mode_ignores_clients_that_do_not_network_boot() -> None:
    st = state(config(), {MAC: NodeNet()})
    silent(request(arch=None, vendor="udhcp 1.35.0"), st)
    silent(request(arch=None), st)


def test_proxy_mode_never_answers_requests_on_port_67() -> None:
    assert "proxy mode" in silent(request(MessageType.REQUEST), state(config(), {MAC: NodeNet()}))


def test_unknown_macs_are_ignored_unless_the_menu_is_wanted() -> None:
    assert "unknown MAC" in silent(request(), state(config()))
    assert answer(request(), state(config(unknown_macs="menu"))).file == b"efi64/syslinux.efi"


def test_boot_server_request_on_4011_is_acked_with_the_file_unicast_to_the_client() -> None:
    req = request(MessageType.REQUEST, ciaddr=IPv4Address("192.0.2.160"))
    result = handle(req, 4011, ("192.0.2.160", 4011), state(config(), {MAC: NodeNet()}), NOW)
    assert result.reply is not None
    assert result.reply.to == ("192.0.2.160", 4011)
    ack = parse(result.reply.pack())
    assert ack.message_type == MessageType.ACK
    assert (ack.file, ack.siaddr, ack.yiaddr) == (b"efi64/syslinux.efi", SERVER, IPv4Address(0))


def test_a_bios_boot_item_request_is_echoed() -> None:
    item = PxeVendorOptions(boot_item=(0x8000, 0)).encode()
    req = request(MessageType.REQUEST, arch=0, options={Opt.VENDOR_SPECIFIC: item})
    ack = answer(req, state(config(), {MAC: NodeNet()}), port=4011, source=("192.0.2.9", 68))
    assert PxeVendorOptions.decode(ack.options[Opt.VENDOR_SPECIFIC]).boot_item == (0x8000, 0)


# -- iPXE and HTTP boot -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["proxy", "full"])
@pytest.mark.parametrize("arch", [0, 7])
def test_ipxe_gets_its_per_mac_script_and_never_a_loader_again(mode: str, arch: int) -> None:
    offer = answer(request(arch=arch, ipxe=True), state(config(mode), {MAC: NodeNet()}))
    assert offer.file == f"http://192.0.2.1:8080/boot/ipxe?mac={MAC}".encode()
    assert offer.options[Opt.VENDOR_CLASS] == b"PXEClient"


@pytest.mark.parametrize(
    ("arch", "loaders", "expected"),
    [
        (0, {}, b"pxelinux.0"),
        # syslinux.efi cannot run under iPXE (it fails to load ldlinux.e64)
        (7, {}, b"http://192.0.2.1:8080/boot/ipxe?mac=" + MAC.encode()),
        (0, {"bios_loader": "ipxe"}, b"http://192.0.2.1:8080/boot/ipxe?mac=" + MAC.encode()),
        (7, {"uefi_loader": "ipxe"}, b"http://192.0.2.1:8080/boot/ipxe?mac=" + MAC.encode()),
    ],
)
def test_without_ipxe_script_an_ipxe_rom_gets_the_loader_but_never_ipxe_nor_syslinux_efi(
    arch: int, loaders: dict[str, str], expected: bytes
) -> None:
    cfg = config("full", ipxe_script=False, **loaders)
    assert answer(request(arch=arch, ipxe=True), state(cfg, {MAC: NodeNet()})).file == expected


def test_option_175_alone_marks_ipxe() -> None:
    req = request(options={Opt.IPXE_ENCAP: bytes((19, 1, 1))})
    assert answer(req, state(config(), {MAC: NodeNet()})).file.startswith(b"http://")


@pytest.mark.parametrize(
    ("arch", "path"), [(16, "/boot/files/ipxe.efi"), (19, "/boot/files/arm64/ipxe.efi")]
)
@pytest.mark.parametrize("mode", ["proxy", "full"])
def test_uefi_http_boot_gets_a_url_and_the_httpclient_class(
    mode: str, arch: int, path: str
) -> None:
    req = request(arch=arch, vendor=f"HTTPClient:Arch:{arch:05d}:UNDI:003001")
    offer = answer(req, state(config(mode), {MAC: NodeNet()}))
    assert offer.file == f"http://192.0.2.1:8080{path}".encode()
    assert offer.options[Opt.VENDOR_CLASS] == b"HTTPClient"


# -- full mode ----------------------------------------------------------------------------------

PROFILE = Options.parse(
    "auto ip.192.0.2.50 submask.255.255.255.128 gw.192.0.2.126 dns.192.0.2.53,192.0.2.54"
)


def test_full_mode_offers_the_reservation_from_the_nodes_ip_profile() -> None:
    st = state(config("full"), {MAC: node_net(PROFILE, "box1")})
    req = request(options={Opt.PARAM_REQUEST: bytes((1, 3, 6, 12, 66, 67))})
    offer = answer(req, st)
    assert offer.yiaddr == IPv4Address("192.0.2.50")
    assert offer.options[Opt.SUBNET_MASK] == IPv4Address("255.255.255.128").packed
    assert offer.options[Opt.ROUTER] == IPv4Address("192.0.2.126").packed
    assert offer.options[Opt.DNS_SERVERS] == bytes((192, 0, 2, 53, 192, 0, 2, 54))
    assert offer.options[Opt.HOSTNAME] == b"box1"
    assert offer.options[Opt.TFTP_SERVER_NAME] == b"192.0.2.1"
    assert offer.options[Opt.BOOTFILE_NAME] == b"efi64/syslinux.efi"
    assert (offer.file, offer.siaddr) == (b"efi64/syslinux.efi", SERVER)
    assert Opt.VENDOR_CLASS not in offer.options  # UEFI boots the file without asking 4011
    assert struct.unpack("!I", offer.options[Opt.LEASE_TIME]) == (3600,)


def test_full_mode_acks_the_offered_address_and_records_the_lease() -> None:
    st = state(config("full"), {MAC: node_net(PROFILE)})
    offer = answer(request(), st)
    ack = answer(
        request(
            MessageType.REQUEST,
            options={Opt.REQUESTED_IP: offer.yiaddr.packed, Opt.SERVER_ID: SERVER.packed},
        ),
        st,
    )
    assert ack.message_type == MessageType.ACK
    assert ack.yiaddr == IPv4Address("192.0.2.50")
    saved, gone = st.table.take_changes()
    assert [(str(x.ip), x.mac, x.expires) for x in saved] == [("192.0.2.50", MAC, NOW + 3600)]
    assert gone == []


def test_unknown_clients_get_a_pool_address_but_no_boot_file_when_ignored() -> None:
    offer = answer(request(arch=None, vendor="udhcp 1.35.0"), state(config("full")))
    assert offer.yiaddr == IPv4Address("192.0.2.100")
    assert offer.file == b""
    assert offer.siaddr == IPv4Address(0)
    offer = answer(request(), state(config("full")))
    assert offer.file == b""


def test_a_reservation_inside_the_pool_is_never_given_to_anyone_else() -> None:
    st = state(config("full"), {MAC: node_net(Options.parse("ip.192.0.2.100"))})
    got = {answer(request(mac=f"52:54:00:00:00:{n:02x}"), st).yiaddr for n in range(2)}
    assert got == {IPv4Address("192.0.2.101"), IPv4Address("192.0.2.102")}
    assert answer(request(), st).yiaddr == IPv4Address("192.0.2.100")


def test_an_exhausted_pool_is_a_warning_not_an_answer() -> None:
    st = state(config("full"))
    for n in range(3):
        answer(request(mac=f"52:54:00:00:00:{n:02x}"), st)
    result = handle(request(mac="52:54:00:00:00:09"), 67, ("0.0.0.0", 68), st, NOW)
    assert result.reply is None
    assert result.warn


def test_a_request_for_another_server_frees_the_offered_address() -> None:
    st = state(config("full", pool=(IPv4Address("192.0.2.100"), IPv4Address("192.0.2.100"))))
    assert answer(request(), st).yiaddr == IPv4Address("192.0.2.100")
    other_server = {Opt.SERVER_ID: bytes((192, 0, 2, 2)), Opt.REQUESTED_IP: bytes((192, 0, 2, 7))}
    assert "chose server" in silent(request(MessageType.REQUEST, options=other_server), st)
    assert answer(request(mac=OTHER), st).yiaddr == IPv4Address("192.0.2.100")


def test_a_request_for_an_address_someone_else_holds_is_naked() -> None:
    st = state(config("full"))
    taken = answer(request(mac=OTHER), st).yiaddr
    nak = answer(request(MessageType.REQUEST, options={Opt.REQUESTED_IP: taken.packed}), st)
    assert nak.message_type == MessageType.NAK
    assert nak.yiaddr == IPv4Address(0)


def test_a_request_for_an_address_that_is_not_ours_is_ignored() -> None:
    st = state(config("full"))
    req = request(MessageType.REQUEST, options={Opt.REQUESTED_IP: bytes((10, 1, 1, 1))})
    assert "not ours" in silent(req, st)


def test_a_node_renewing_a_pool_address_is_moved_to_its_reservation() -> None:
    st = state(config("full"))
    old = answer(request(), st).yiaddr
    answer(request(MessageType.REQUEST, options={Opt.REQUESTED_IP: old.packed}), st)
    st = State(st.cfg, Snapshot.build([(MAC, node_net(PROFILE))]), st.table)
    renew = request(MessageType.REQUEST, ciaddr=old)
    assert answer(renew, st).message_type == MessageType.NAK
    assert answer(request(), st).yiaddr == IPv4Address("192.0.2.50")


def test_a_declined_address_is_not_offered_again() -> None:
    st = state(config("full"))
    first = answer(request(), st).yiaddr
    decline = {Opt.REQUESTED_IP: first.packed, Opt.SERVER_ID: SERVER.packed}
    assert "declined" in silent(request(MessageType.DECLINE, options=decline), st)
    assert answer(request(), st).yiaddr != first
    assert answer(request(mac=OTHER), st).yiaddr != first


def test_a_released_address_can_go_to_the_next_client() -> None:
    st = state(config("full", pool=(IPv4Address("192.0.2.100"), IPv4Address("192.0.2.100"))))
    ip = answer(request(), st).yiaddr
    answer(request(MessageType.REQUEST, options={Opt.REQUESTED_IP: ip.packed}), st)
    silent(request(MessageType.RELEASE, ciaddr=ip), st)
    assert answer(request(mac=OTHER), st).yiaddr == ip


def test_relayed_requests_are_answered_to_the_relay_with_option_82_echoed() -> None:
    st = state(config("full"))
    relay = bytes((1, 2)) + b"c1"
    req = request(giaddr=IPv4Address("192.0.2.2"), options={Opt.RELAY_AGENT_INFO: relay})
    result = handle(req, 67, ("192.0.2.2", 67), st, NOW)
    assert result.reply is not None
    assert result.reply.to == ("192.0.2.2", 67)
    offer = parse(result.reply.pack())
    assert offer.giaddr == IPv4Address("192.0.2.2")
    assert list(offer.options)[-1] == Opt.RELAY_AGENT_INFO
    assert offer.relay_agent_info == {1: b"c1"}


def test_replies_to_clients_without_an_address_are_broadcast() -> None:
    result = handle(request(), 67, ("0.0.0.0", 68), state(config("full")), NOW)
    assert result.reply is not None
    assert result.reply.to == (BROADCAST, 68)


def test_inform_is_acked_to_the_client_without_an_address_or_lease() -> None:
    ciaddr = IPv4Address("192.0.2.77")
    result = handle(
        request(MessageType.INFORM, ciaddr=ciaddr),
        67,
        ("192.0.2.77", 68),
        state(config("full")),
        NOW,
    )
    assert result.reply is not None
    assert result.reply.to == ("192.0.2.77", 68)
    ack = parse(result.reply.pack())
    assert ack.yiaddr == IPv4Address(0)
    assert Opt.LEASE_TIME not in ack.options


def test_a_hostile_hostname_is_cleaned_before_it_reaches_the_lease_table() -> None:
    st = state(config("full"))
    name = b"box\x00\x1b[31m\xff" + b"x" * 600  # RFC 3396 allows it to be this long
    answer(
        request(
            MessageType.REQUEST,
            options={Opt.REQUESTED_IP: bytes((192, 0, 2, 100)), Opt.HOSTNAME: name},
        ),
        st,
    )
    [lease] = st.table.leases()
    assert lease.hostname is not None
    assert lease.hostname.startswith("box[31m")
    assert len(lease.hostname) <= 253
    assert lease.hostname.isprintable()
    assert lease.hostname.isascii()


def test_leases_read_back_after_a_restart_keep_their_owner() -> None:
    st = state(config("full"))
    ip = answer(request(), st).yiaddr
    answer(request(MessageType.REQUEST, options={Opt.REQUESTED_IP: ip.packed}), st)
    saved, _ = st.table.take_changes()
    restarted = State(st.cfg, st.snap, LeaseTable(st.cfg.pool, saved, [SERVER]))
    assert answer(request(mac=OTHER), restarted).yiaddr != ip
    assert answer(request(), restarted).yiaddr == ip


# -- log lines --------------------------------------------------------------


def test_log_lines_name_the_step_the_mac_the_address_and_the_file() -> None:
    st = state(config("full"), {MAC: node_net(PROFILE)})
    req = request()
    result = handle(req, 67, ("0.0.0.0", 68), st, NOW)
    assert result.reply is not None
    assert describe_request(req) == f"DHCP DISCOVER {MAC} arch 7 PXEClient"
    assert describe_reply(result.reply) == (
        f"DHCP OFFER {MAC} 192.0.2.50 file efi64/syslinux.efi to 255.255.255.255:68"
    )


def test_deciding_changes_nothing_until_the_change_is_applied() -> None:
    st = state(config("full"))
    offer = decide(request(), 67, ("0.0.0.0", 68), st, NOW)
    assert offer.reply is not None
    assert offer.change is not None
    assert st.table.leases() == []
    assert st.table.take_changes() == ([], [])
    # the same DISCOVER again gets the same address: nothing was set aside yet
    assert decide(request(), 67, ("0.0.0.0", 68), st, NOW).change == offer.change
    st.table.apply(offer.change)
    ack = decide(
        request(
            MessageType.REQUEST,
            options={
                Opt.REQUESTED_IP: offer.reply.packet.yiaddr.packed,
                Opt.SERVER_ID: SERVER.packed,
            },
        ),
        67,
        ("0.0.0.0", 68),
        st,
        NOW,
    )
    assert ack.change is not None
    assert st.table.leases() == []
    st.table.apply(ack.change)
    [lease] = st.table.leases()
    assert (lease.mac, lease.ip) == (MAC, offer.reply.packet.yiaddr)


def test_a_decline_of_an_address_not_ours_is_not_remembered() -> None:
    st = state(config("full"))
    for n in range(300):
        elsewhere = IPv4Address("10.0.0.0") + n
        decline = {Opt.REQUESTED_IP: elsewhere.packed, Opt.SERVER_ID: SERVER.packed}
        assert "not an address of ours" in silent(request(MessageType.DECLINE, options=decline), st)
    assert st.table._declined == {}
