"""DHCP labs for the integration tests: our server (``python -m provisioner.dhcp``)
in the lab's server namespace, the site's plain DHCP server (busybox udhcpd) for
proxy mode, real clients, and tcpdump captures. Test support only."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from subprocess import Popen

from provisioner.config import load_settings
from provisioner.db import open_store
from provisioner.dhcp.packet import Packet, parse
from provisioner.dhcp.policy import Result, State, decide
from provisioner.service import Service
from tests.support import netns
from tests.support.pcap import Datagram, udp_datagrams
from tests.support.release import add_release

SITE_SERVER = "192.0.2.2"


def add_nodes(data_dir: Path, nodes: Mapping[str, Mapping[str, object]]) -> None:
    """Create the database in ``data_dir`` with these nodes (MAC -> fields)."""
    settings = load_settings({}, overrides={"data_dir": str(data_dir)})
    store = open_store(settings)
    try:
        service = Service(store, settings)
        release = add_release(store)  # the nodes install (preflight wants a release)
        for mac, fields in nodes.items():
            service.save_node(mac, {"release": release, **fields})
    finally:
        store.close()


def start_server(lab: netns.Lab, mode: str, *args: str, name: str = "dhcp") -> Popen[bytes]:
    """Our DHCP server on br0, data in ``<workdir>/data``; waits until port 67 is bound."""
    log = lab.workdir / f"{name}.log"
    argv = [sys.executable, "-m", "provisioner.dhcp", "--dhcp", mode, "--interface", "br0"]
    argv += ["--data-dir", str(lab.workdir / "data"), "--log-level", "DEBUG", *args]
    proc = lab.start(argv, log)
    lab.wait_udp(67, proc=proc, log=log)
    return proc


def log_of(lab: netns.Lab, name: str = "dhcp") -> str:
    return (lab.workdir / f"{name}.log").read_text(errors="replace")


def start_site_server(lab: netns.Lab) -> netns.Netns:
    """The site's own DHCP server: busybox udhcpd at 192.0.2.2, leasing .160-.199
    (a short ARP check, so it answers quickly)."""
    site = lab.add_client("d0", f"{SITE_SERVER}/24")
    conf = lab.workdir / "udhcpd.conf"
    leases = lab.workdir / "udhcpd.leases"
    leases.touch()
    conf.write_text(
        "start 192.0.2.160\nend 192.0.2.199\ninterface d0\n"
        f"lease_file {leases}\nopt subnet 255.255.255.0\nopt router 192.0.2.1\nopt lease 600\n"
    )
    lab.start(["busybox", "udhcpd", "-f", "-a", "100", str(conf)], lab.workdir / "udhcpd.log", site)
    time.sleep(0.3)
    return site


def udhcpc(client: netns.Netns, workdir: Path, *extra: str) -> dict[str, str]:
    """One busybox udhcpc run (3 tries, 1 s apart); the lease it bound, or {}."""
    out = workdir / f"udhcpc-{client.name}.lease"
    out.unlink(missing_ok=True)
    hook = netns.udhcpc_hook(workdir / "udhcpc.hook", out)
    iface = client.name.rsplit("-", 1)[1]
    client.run(
        "busybox", "udhcpc", "-i", iface, "-n", "-q", "-t", "3", "-T", "1", "-s", str(hook),
        *extra, timeout=30,
    )  # fmt: skip
    return _vars(out)


def dhclient(
    lab: netns.Lab, client: netns.Netns, vendor: str | None, arch: int | None, require: str = ""
) -> dict[str, str]:
    """ISC dhclient once with its own config (vendor class, option 93) and hook;
    the ``new_*`` variables of the lease it bound, or {}."""
    iface = client.name.rsplit("-", 1)[1]
    work = lab.workdir
    conf = [
        "option pxe-arch code 93 = unsigned integer 16;",
        "request subnet-mask, routers, domain-name-servers, host-name, bootfile-name;",
        "timeout 15; retry 1; select-timeout 0;",
    ]
    if vendor:
        conf.append(f'send vendor-class-identifier "{vendor}";')
    if arch is not None:
        conf.append(f"send pxe-arch {arch};")
    if require:
        conf.append(f"require {require};")
    (work / "dhclient.conf").write_text("\n".join(conf) + "\n")
    out = work / "dhclient.lease"
    out.unlink(missing_ok=True)
    hook = netns.dhclient_hook(work / "dhclient.hook", out)
    proc = lab.start(
        ["dhclient", "-d", "-1", "-4", "-cf", str(work / "dhclient.conf"), "-sf", str(hook),
         "-lf", str(work / "dhclient.leases"), "-pf", str(work / "dhclient.pid"), iface],
        work / "dhclient.log",
        client,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not out.exists() and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.2)  # the hook writes the file in one go; give it a moment to finish
    lab.stop(proc)
    return _vars(out)


def _vars(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v.strip("'") for k, v in pairs}


@contextlib.contextmanager
def capture(lab: netns.Lab, ns: netns.Netns, iface: str, name: str) -> Iterator[Path]:
    """tcpdump of UDP on ``iface`` in ``ns`` while the block runs; yields the pcap path."""
    netns.need_commands("tcpdump")
    pcap = lab.workdir / f"{name}.pcap"
    log = lab.workdir / f"{name}.tcpdump.log"
    proc = lab.start(
        ["tcpdump", "-i", iface, "--immediate-mode", "-U", "-n", "-w", str(pcap), "udp"], log, ns
    )
    deadline = time.monotonic() + 10
    while "listening on" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"tcpdump did not start: {log.read_text()}"
        time.sleep(0.05)
    try:
        yield pcap
    finally:
        time.sleep(0.3)
        lab.stop(proc)


def replies_from(pcap: Path, server: str = netns.SERVER_IP) -> list[Packet]:
    """The DHCP replies ``server`` sent, as captured (decoded by our codec)."""
    return [parse(d.payload) for d in _from(pcap, server) if d.sport in (67, 4011)]


def _from(pcap: Path, server: str) -> list[Datagram]:
    return [d for d in udp_datagrams(pcap) if d.src == server]


def handle(req: Packet, port: int, source: tuple[str, int], state: State, now: float) -> Result:
    """What the daemon does with one request: decide, then apply the lease change
    (provisioner/dhcp/server.py does the same two steps)."""
    result = decide(req, port, source, state, now)
    state.table.apply(result.change)
    return result
