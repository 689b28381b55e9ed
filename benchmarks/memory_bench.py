"""Memory under random MACs: what any client on the LAN can make the server keep.

    .venv/bin/python -m benchmarks.memory_bench --label i14-XXXXXXX

Drives, in-process and one phase after the other, requests carrying a fresh random
MAC (and a random client IP) each through the paths that need no credential:

* ``bootlog``: :meth:`BootLog.record` of a random kind with a random MAC and IP
  (every 500th with the IP alone, as TFTP sees a box: a step waiting in the store
  for its MAC, a few ms each; every 1000th with the MAC of a node in an install window: a
  milestone written), ``--pure`` calls;
* ``dhcp``: the full-mode policy and lease table (``tests/support/dhcp.handle``, as
  the daemon does it) on a pool of 30 addresses: a DISCOVER from a random MAC (an
  OFFER held 60 s), every 10th a REQUEST for what it was offered (a lease of an
  hour), every 10th a DECLINE of a random address; the clock moves 0.1 s per packet
  and housekeeping (``expire_holds``, ``take_changes``) runs every 2 s of it, as the
  daemon's does, so the pool is full most of the time and offers and leases run out
  and go to the next MAC; ``--pure`` packets;
* ``http``: the Flask test client on the same SQLite store (4 nodes in an install
  window), from a random client address: ``GET /boot/pxelinux.cfg/01-<mac>`` and
  ``/boot/ipxe?mac=<mac>`` in turn, two in 100 for a known node (served: its
  milestone recorded and its random IP bound in the store), the others 404;
  ``--http`` requests (a few ms each here, so fewer than the pure phases: the
  structures they reach are the boot log's, driven 1M times above).

Every tenth of a phase it samples the process RSS (``/proc/self/status`` VmRSS) and
the size ``tracemalloc`` counts as allocated now, after a ``gc.collect()``; it
reports each phase's growth from its 20 % sample to its end (the first fifth fills
the bounded structures to their limits, which is their cost, not growth) and the
sizes of the structures at the end. Writes ``benchmarks/results/memory-LABEL.json``.
Nothing listens on any socket; the temp directory is removed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from benchmarks.bootcfg_bench import mac_of, path_of, populate, settings_for

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MIB = 1 << 20
NODES = 4


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def random_mac(rng: random.Random) -> str:
    """A unicast MAC (a multicast one is refused with a 422 before anything is kept)."""
    first, *rest = rng.randbytes(6)
    return ":".join(f"{b:02x}" for b in [first & 0xFE, *rest])


def random_ip(rng: random.Random) -> str:
    return str(IPv4Address(rng.getrandbits(32)))


def run_phase(name: str, total: int, step: Callable[[int], None]) -> dict[str, Any]:
    """``step(i)`` for i in range(total), sampling memory ten times."""
    every = max(total // 10, 1)
    samples: list[dict[str, float]] = []
    started = time.perf_counter()
    for i in range(total):
        step(i)
        if (i + 1) % every == 0:
            gc.collect()
            sample = {
                "requests": i + 1,
                "rss_mib": rss() / MIB,
                "traced_mib": tracemalloc.get_traced_memory()[0] / MIB,
                "seconds": time.perf_counter() - started,
            }
            samples.append(sample)
            print(
                f"{name:8} {i + 1:>9,}  rss {sample['rss_mib']:7.1f} MiB  "
                f"traced {sample['traced_mib']:7.2f} MiB  {sample['seconds']:6.0f} s",
                flush=True,
            )
    first, last = samples[1], samples[-1]  # the 20 % sample and the end
    return {
        "requests": total,
        "seconds": round(time.perf_counter() - started, 1),
        "samples": samples,
        "rss_growth_mib": round(last["rss_mib"] - first["rss_mib"], 2),
        "traced_growth_mib": round(last["traced_mib"] - first["traced_mib"], 2),
    }


def bootlog_phase(store: Any, total: int, rng: random.Random) -> tuple[dict[str, Any], Any]:
    from provisioner.bootlog import KINDS, BootLog

    bootlog = BootLog(store)
    kinds = sorted(KINDS)

    def step(i: int) -> None:
        kind = kinds[i % len(kinds)]
        if i % 1000 == 999:
            kind = kinds[i // 1000 % len(kinds)]  # every kind, binding its IP for some
            bootlog.record(kind, mac=mac_of(i // 1000 % NODES), ip=random_ip(rng))
        elif i % 500 == 499:
            bootlog.record(kind, ip=random_ip(rng))
        else:
            bootlog.record(kind, mac=random_mac(rng), ip=random_ip(rng))

    result = run_phase("bootlog", total, step)
    result["structures"] = {
        "_macs": len(bootlog._macs),
        "_done": len(bootlog._done),
        "_shared": len(bootlog._shared),
    }
    return result, bootlog


def dhcp_phase(total: int, rng: random.Random) -> dict[str, Any]:
    from provisioner.dhcp.config import DhcpConfig
    from provisioner.dhcp.leases import LeaseTable, Snapshot
    from provisioner.dhcp.options import MessageType, Opt
    from provisioner.dhcp.packet import Packet
    from provisioner.dhcp.policy import State
    from tests.support.dhcp import handle

    server = IPv4Address("192.0.2.1")
    cfg = DhcpConfig(
        mode="full",
        server_ip=server,
        http_port=8080,
        pool=(IPv4Address("192.0.2.10"), IPv4Address("192.0.2.39")),
        netmask=IPv4Address("255.255.255.0"),
        router=server,
        dns_servers=(server,),
    )
    state = State(cfg, Snapshot.build((), [server]), LeaseTable(cfg.pool, (), [server]))
    table = state.table
    clock = [1_800_000_000.0]
    next_housekeeping = [clock[0] + 2.0]

    def packet(kind: MessageType, chaddr: bytes, **opts: bytes) -> Packet:
        options = {
            Opt.MESSAGE_TYPE: bytes((kind,)),
            **{getattr(Opt, k): v for k, v in opts.items()},
        }
        return Packet(op=1, xid=rng.getrandbits(32), chaddr=chaddr, options=options)

    def step(i: int) -> None:
        now = clock[0] = clock[0] + 0.1
        if now >= next_housekeeping[0]:
            table.expire_holds(now)
            table.take_changes()  # the daemon writes them to the store
            next_housekeeping[0] = now + 2.0
        chaddr = rng.randbytes(6)
        offer = handle(packet(MessageType.DISCOVER, chaddr), 67, ("0.0.0.0", 68), state, now)
        if i % 10 == 3 and offer.reply is not None:
            got = offer.reply.packet.yiaddr.packed
            asked = packet(MessageType.REQUEST, chaddr, REQUESTED_IP=got, SERVER_ID=server.packed)
            handle(asked, 67, ("0.0.0.0", 68), state, now)
        elif i % 10 == 7:
            elsewhere = IPv4Address(rng.getrandbits(32)).packed
            declined = packet(
                MessageType.DECLINE, chaddr, REQUESTED_IP=elsewhere, SERVER_ID=server.packed
            )
            handle(declined, 67, ("0.0.0.0", 68), state, now)

    result = run_phase("dhcp", total, step)
    result["structures"] = {
        "leases": len(table._by_ip),
        "_by_mac": len(table._by_mac),
        "_holds": len(table._holds),
        "_hold_of": len(table._hold_of),
        "_hold_queue": len(table._hold_queue),
        "_declined": len(table._declined),
        "_changes": len(table._changes),
    }
    return result


def http_phase(settings: Any, store: Any, total: int, rng: random.Random) -> dict[str, Any]:
    from provisioner.web import create_app

    client = create_app(settings, store).test_client()

    def step(i: int) -> None:
        known = i % 100 in (98, 99)  # a pxelinux file and an iPXE script
        mac = mac_of(i // 100 % NODES) if known else random_mac(rng)
        url = path_of(mac) if i % 2 == 0 else f"/boot/ipxe?mac={mac}"
        status = client.get(url, environ_base={"REMOTE_ADDR": random_ip(rng)}).status_code
        assert status == (200 if known else 404), (url, status)

    result = run_phase("http", total, step)
    bootlog = client.application.extensions.get("provisioner.bootlog")
    if bootlog is not None:
        result["structures"] = {"_macs": len(bootlog._macs), "_shared": len(bootlog._shared)}
    return result


def store_rows(store: Any) -> dict[str, int]:
    """What the boot log made the store keep (bounded: BINDINGS_TOTAL, PENDING_TOTAL)."""
    from sqlalchemy import func, select

    from provisioner.db.models import BootBindingRow, BootPendingRow

    with store._session(write=False) as s:
        return {
            row.__tablename__: s.scalar(select(func.count()).select_from(row)) or 0
            for row in (BootBindingRow, BootPendingRow)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="local")
    parser.add_argument("--pure", type=int, default=1_000_000, help="boot log calls, DHCP packets")
    parser.add_argument("--http", type=int, default=100_000, help="Flask test-client requests")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--phases", default="bootlog,dhcp,http", help="which, comma-separated (one process each "
        "when run side by side: each phase's RSS is then its own)"
    )  # fmt: skip
    args = parser.parse_args()
    wanted = set(args.phases.split(","))
    rng = random.Random(args.seed)
    tracemalloc.start()
    from provisioner.db import open_store

    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        settings = settings_for(Path(tmp) / "data", None)
        populate(settings, NODES)
        store = open_store(settings, upgrade=False)
        try:
            phases: dict[str, Any] = {}
            if "bootlog" in wanted:
                phases["bootlog"], _ = bootlog_phase(store, args.pure, rng)
                phases["bootlog"]["store_rows"] = store_rows(store)
            if "dhcp" in wanted:
                phases["dhcp"] = dhcp_phase(args.pure, rng)
            if "http" in wanted:
                phases["http"] = http_phase(settings, store, args.http, rng)
                phases["http"]["store_rows"] = store_rows(store)
        finally:
            store.close()
    print("\n| phase | requests | RSS at 20 % | RSS at end | growth | traced growth | s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in phases.items():
        print(
            f"| {name} | {r['requests']:,} | {r['samples'][1]['rss_mib']:.1f} MiB | "
            f"{r['samples'][-1]['rss_mib']:.1f} MiB | {r['rss_growth_mib']:+.2f} MiB | "
            f"{r['traced_growth_mib']:+.2f} MiB | {r['seconds']:.0f} |"
        )
    for name, r in phases.items():
        print(f"{name}: {r.get('structures')} {r.get('store_rows', '')}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"memory-{args.label}.json"
    meta = {
        "label": args.label,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "seed": args.seed,
    }
    out.write_text(json.dumps({"meta": meta, "phases": phases}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
