"""The DHCP daemon as a process: it starts only when told to, says clearly why it
cannot, survives hostile packets, keeps leases across restarts, picks up new
nodes while running, and answers perfdhcp's relayed load without a drop."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioner.config import load_settings
from provisioner.db import open_store
from provisioner.dhcp.packet import Packet
from provisioner.dhcp.server import DROP_LOG_LIMIT
from tests.support import dhcp, netns

pytestmark = pytest.mark.netns

MAC = "52:54:00:c0:02:41"
OTHER = "52:54:00:c0:02:42"
POOL = ("--pool", "192.0.2.100-192.0.2.150")
PXE = ("-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007")


@pytest.fixture
def lab(tmp_path: Path) -> object:
    netns.require()
    netns.need_commands("busybox")
    with netns.lab(tmp_path) as the_lab:
        yield the_lab


def client(lab: netns.Lab, name: str = "c0", mac: str = MAC) -> netns.Netns:
    ns = lab.add_client(name)
    ns.ip("link", "set", name, "address", mac)
    return ns


def runner(lab: netns.Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """The standalone runner in the server namespace, expected to exit."""
    argv = [sys.executable, "-m", "provisioner.dhcp", "--data-dir", str(lab.workdir / "d"), *args]
    return lab.server.run(*argv, timeout=60)


def bound_udp_67(lab: netns.Lab) -> bool:
    return bool(lab.server.run("ss", "-Hlun", "sport = :67").stdout.strip())


# -- start-up ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "DHCP is off"),
        (("--interface", "br0"), "DHCP is off"),
        (("--dhcp", "off", "--interface", "br0"), "DHCP is off"),
        (("--dhcp", "proxy"), "needs the interface"),
        (("--dhcp", "full", "--interface", "nope0"), "no interface named 'nope0'"),
    ],
)
def test_dhcp_answers_nothing_unless_a_mode_and_an_existing_interface_are_named(
    lab: netns.Lab, args: tuple[str, ...], message: str
) -> None:
    result = runner(lab, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not bound_udp_67(lab)


def test_an_interface_without_an_address_needs_server_ip(lab: netns.Lab) -> None:
    lab.server.ip("link", "add", "bare0", "type", "veth", "peer", "name", "bare1")
    lab.server.ip("link", "set", "bare0", "up")
    result = runner(lab, "--dhcp", "proxy", "--interface", "bare0")
    assert result.returncode == 2
    assert "has no IPv4 address; set server_ip" in result.stderr


def test_a_second_server_on_the_same_interface_is_refused_clearly(lab: netns.Lab) -> None:
    dhcp.start_server(lab, "proxy")
    result = runner(lab, "--dhcp", "proxy", "--interface", "br0")
    assert result.returncode == 2
    assert "UDP port 67 on br0 is in use" in result.stderr


def test_the_mode_and_interface_can_come_from_the_environment(lab: netns.Lab) -> None:
    env = {"PROVISIONER_DHCP": "proxy", "PROVISIONER_INTERFACE": "br0", "PATH": "/usr/bin:/bin"}
    log = lab.workdir / "env.log"
    argv = [sys.executable, "-m", "provisioner.dhcp", "--data-dir", str(lab.workdir / "d")]
    proc = lab.start(argv, log, env=env)
    lab.wait_udp(67, proc=proc, log=log)
    assert "DHCP proxy on br0" in log.read_text()


# -- hostile input ----------------------------------------------------------------------------

VALID = Packet(
    op=1,
    xid=7,
    chaddr=bytes.fromhex("525400c00299"),
    options={53: b"\x01", 60: b"PXEClient:Arch:00007:UNDI:003016", 93: b"\x00\x07"},
).pack()
HEAD = VALID[:240]
HOSTILE = {
    "empty": b"",
    "one byte": b"\x01",
    "truncated header": VALID[:100],
    "no magic cookie": VALID[:236] + bytes(4) + VALID[240:],
    "option longer than the packet": HEAD + bytes((53, 1, 1, 60, 200)) + b"PXEClient",
    "message type of 3 bytes": HEAD + bytes((53, 3, 1, 1, 1, 255)),
    "odd-length option 93": HEAD + bytes((53, 1, 1, 93, 3, 0, 0, 7, 255)),
    "overload value 7": HEAD + bytes((53, 1, 1, 52, 1, 7, 255)),
    "overload pointing at garbage": VALID[:108]
    + b"\xfe" * 128
    + VALID[236:240]
    + bytes((53, 1, 1, 52, 1, 1, 255)),
    "bad PXE option 43": HEAD + bytes((53, 1, 1, 60, 9)) + b"PXEClient" + bytes((43, 3, 6, 5, 8)),
    "bad relay option 82": HEAD + bytes((53, 1, 1, 82, 2, 1, 7, 255)),
    "non-UTF-8 hostname": VALID[:-1] + bytes((12, 4, 0xFF, 0xFE, 0xC3, 0x28, 255)),
    "4000 options": HEAD + bytes((53, 1, 1)) + bytes((250, 0)) * 2000 + b"\xff",
    "hardware address of 255 bytes": VALID[:2] + b"\xff" + VALID[3:],
    "a reply, not a request": b"\x02" + VALID[1:],
    "oversized datagram": VALID + bytes(20000),
    "random bytes": random.Random(1).randbytes(600),
}

SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"x0")
for line in sys.stdin.read().split():
    data = b"" if line == "-" else bytes.fromhex(line)
    for dest in (("192.0.2.1", 67), ("255.255.255.255", 67), ("192.0.2.1", 4011)):
        s.sendto(data, dest)
"""


def test_hostile_packets_are_dropped_and_the_next_real_client_is_served(lab: netns.Lab) -> None:
    server = dhcp.start_server(lab, "full", *POOL, "--unknown-macs", "menu")
    attacker = lab.add_client("x0", "192.0.2.9/24")
    payloads = "\n".join(p.hex() or "-" for p in HOSTILE.values()) + "\n"
    sent = subprocess.run(
        attacker.cmd(sys.executable, "-c", SENDER), input=payloads, text=True, timeout=30
    )
    assert sent.returncode == 0
    lease = dhcp.udhcpc(client(lab), lab.workdir, *PXE)
    assert lease["ip"] == "192.0.2.101"  # .100 went to the non-UTF-8 hostname's DISCOVER
    assert lease["boot_file"] == "efi64/syslinux.efi"
    assert server.poll() is None
    log = dhcp.log_of(lab)
    assert "Traceback" not in log
    # one line per drop, until the rate limit keeps a flood out of the log
    assert log.count("dropped a malformed packet") == DROP_LOG_LIMIT
    assert "from 192.0.2.9:" in log
    assert "shorter than a DHCP header" in log
    assert "option 53 is 3 bytes" in log


# -- state ------------------------------------------------------------------------------------


def test_leases_survive_a_restart_so_no_address_is_handed_out_twice(lab: netns.Lab) -> None:
    first = client(lab, "c0", MAC)
    server = dhcp.start_server(lab, "full", *POOL)
    assert dhcp.udhcpc(first, lab.workdir, *PXE)["ip"] == "192.0.2.100"
    lab.stop(server)  # SIGTERM: the last leases are written on the way out

    settings = load_settings({}, overrides={"data_dir": str(lab.workdir / "data")})
    store = open_store(settings)
    try:
        assert [(str(x.ip), x.mac) for x in store.list_leases()] == [("192.0.2.100", MAC)]
    finally:
        store.close()

    dhcp.start_server(lab, "full", *POOL, name="restarted")
    second = client(lab, "c1", OTHER)
    assert dhcp.udhcpc(second, lab.workdir, *PXE)["ip"] == "192.0.2.101"
    first.ip("addr", "flush", "dev", "c0")
    assert dhcp.udhcpc(first, lab.workdir, *PXE)["ip"] == "192.0.2.100"


def test_a_node_added_while_the_server_runs_gets_its_reservation(lab: netns.Lab) -> None:
    dhcp.add_nodes(lab.workdir / "data", {OTHER: {}})
    dhcp.start_server(lab, "full", *POOL)
    dhcp.add_nodes(lab.workdir / "data", {MAC: {"options": "ip.192.0.2.60"}})
    deadline = time.monotonic() + 15
    while "reloaded 2 known nodes" not in dhcp.log_of(lab):
        assert time.monotonic() < deadline, dhcp.log_of(lab)[-2000:]
        time.sleep(0.2)
    assert dhcp.udhcpc(client(lab), lab.workdir, *PXE)["ip"] == "192.0.2.60"


# -- load -------------------------------------------------------------------------------------


def test_perfdhcp_relayed_four_way_exchanges_complete_without_drops(lab: netns.Lab) -> None:
    """Functional, not timed: 300 new clients through a relay (giaddr 192.0.2.2).
    The 198.18.0.0/15 pool only ever appears inside DHCP payloads (as in
    benchmarks/dhcp)."""
    netns.need_commands("perfdhcp")
    dhcp.start_server(lab, "full", "--pool", "198.18.0.10-198.18.3.250", "--log-level", "WARNING")
    relay = lab.add_client("r0", "192.0.2.2/24")
    result = relay.run(
        "perfdhcp", "-4", "-g", "single", "-l", "192.0.2.2", "-L", "67", "-r", "100", "-p", "3",
        "-d", "1", "-W", "1000000", "-R", "100000000", "192.0.2.1",
        timeout=60,
    )  # fmt: skip
    out = result.stdout + result.stderr

    def stat(section: str, key: str) -> int:
        block = out.split(f"***Statistics for: {section}***", 1)[1]
        match = re.search(rf"^{key}: (\d+)", block, re.M)
        assert match, out
        return int(match.group(1))

    sent = stat("DISCOVER-OFFER", "sent packets")
    assert sent >= 250
    assert stat("DISCOVER-OFFER", "received packets") == sent
    assert stat("REQUEST-ACK", "sent packets") == sent
    assert stat("REQUEST-ACK", "received packets") == sent
    assert stat("REQUEST-ACK", "drops") == 0
