"""Leases are durable before the ACK: the server is killed with SIGKILL at random
moments while perfdhcp keeps relaying new clients at it, and restarted after each
kill. What the relay received (tcpdump on its side of the wire) must agree with
the store: every address ever ACKed is in the store with the MAC it was ACKed to,
and no address ACKed to one client is ever offered or ACKed to another one later,
whichever server process made the offer."""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from provisioner.config import load_settings
from provisioner.db import open_store
from provisioner.dhcp.options import MessageType
from tests.support import dhcp, netns

pytestmark = pytest.mark.netns

KILLS = 20
RATE = 200  # new clients a second: well below what the server sustains (benchmarks.md)
SEED = 15
#: seconds each server process lives before its kill (uniform); startup comes on top
LIFE = (0.3, 1.2)
FULL = ("--pool", "198.18.0.10-198.18.255.250", "--log-level", "WARNING")


@pytest.fixture
def lab(tmp_path: Path) -> object:
    netns.require()
    netns.need_commands("busybox", "perfdhcp", "tcpdump")
    with netns.lab(tmp_path) as the_lab:
        yield the_lab


def perfdhcp_stats(out: str, section: str, key: str) -> int:
    block = out.split(f"***Statistics for: {section}***", 1)[1]
    match = re.search(rf"^{key}: (\d+)", block, re.M)
    assert match, out
    return int(match.group(1))


def stored_leases(data_dir: Path) -> dict[str, str]:
    store = open_store(load_settings({}, overrides={"data_dir": str(data_dir)}))
    try:
        return {str(lease.ip): lease.mac for lease in store.list_leases()}
    finally:
        store.close()


def test_no_address_acked_before_a_kill_is_offered_to_another_client_after_it(
    lab: netns.Lab,
) -> None:
    relay = lab.add_client("r0", "192.0.2.2/24")
    rng = random.Random(SEED)
    lives = [rng.uniform(*LIFE) for _ in range(KILLS)]
    seconds = 150  # a bound: it is interrupted once the kills are done
    perf_log = lab.workdir / "perfdhcp.log"
    with dhcp.capture(lab, relay, "r0", "kills") as pcap:
        server = dhcp.start_server(lab, "full", *FULL, name="dhcp-0")
        perf = lab.start(
            ["perfdhcp", "-4", "-g", "single", "-l", "192.0.2.2", "-L", "67", "-r", str(RATE),
             "-p", str(seconds), "-d", "1", "-W", "1000000", "-R", "100000000", "192.0.2.1"],
            perf_log,
            relay,
        )  # fmt: skip
        for k, life in enumerate(lives, 1):
            time.sleep(life)
            assert perf.poll() is None, "perfdhcp ended before the kills did"
            os.kill(server.pid, signal.SIGKILL)  # a process this test started
            server.wait(timeout=10)
            server = dhcp.start_server(lab, "full", *FULL, name=f"dhcp-{k}")
        time.sleep(2)  # the last server serves a while, then perfdhcp stops and reports
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=30)
        os.kill(server.pid, signal.SIGKILL)  # the last one too: no orderly shutdown writes
        server.wait(timeout=10)

    out = perf_log.read_text(errors="replace")
    assert perfdhcp_stats(out, "REQUEST-ACK", "received packets") > RATE * 5, out
    acked: dict[str, str] = {}
    violations = []
    for reply in dhcp.replies_from(pcap):
        kind, ip, mac = reply.message_type, str(reply.yiaddr), reply.mac
        if kind not in (MessageType.OFFER, MessageType.ACK) or ip == "0.0.0.0":
            continue
        owner = acked.get(ip)
        if owner is not None and owner != mac:
            violations.append(f"{ip} ACKed to {owner}, later {kind.name} to {mac}")
        if kind == MessageType.ACK:
            acked.setdefault(ip, mac)
    assert not violations, violations[:10]
    assert len(acked) > RATE * 5
    stored = stored_leases(lab.workdir / "data")
    lost = {ip: mac for ip, mac in acked.items() if stored.get(ip) != mac}
    assert not lost, f"{len(lost)} ACKed leases not in the store, e.g. {list(lost.items())[:5]}"
    for k in range(KILLS + 1):
        assert "Traceback" not in dhcp.log_of(lab, f"dhcp-{k}")
