"""Boot-to-installed time of QEMU VMs: our server against the lab's stand-in.

    sudo .venv/bin/python -m benchmarks.installer_bench                 # 1 and 8 VMs, 2 rounds
    sudo .venv/bin/python -m benchmarks.installer_bench --vms 1 --rounds 1
    sudo .venv/bin/python -m benchmarks.installer_bench --release debian --until running

Both runs boot the same VMs (SeaBIOS + iPXE ROM -> pxelinux.0 -> kernel and initrd
over TFTP -> our agent installs a blank disk: partitions, release image to slot A,
bundled instance files) and serve byte-identical files:

* **ours**: ``provisioner serve`` with DHCP (full), TFTP, DNS and HTTP;
* **stand-in** (``../shared/lab``'s recipe): dnsmasq (DHCP with ``--no-ping``,
  TFTP) and a static stdlib HTTP server (``benchmarks/installer/standin_http.py``)
  serving copies of the very pxelinux files, manifests and media ours generated,
  and sinking the agent's reports.

Runs alternate (ours, stand-in, ours, ...) so host load hits both alike. Under TCG
the VMs' own CPU dominates; the figure that matters is the ratio ours/stand-in.
Per VM: seconds from QEMU's start to the agent's final report; per phase for
ours from the node's timeline (DHCP -> loader -> kernel -> agent -> image -> files).

``--release debian`` installs the real Debian release (tests/support/debianrelease.py,
~78 MB); ``debian200`` the same padded to ~200 MB with random bytes (the paper's
release size). ``--until running``: when the agent's reboot ends QEMU the VM is
started again at once from its disk (network out of the boot order) and timed until
the installed system's first ``POST /node/report`` (ours: the node ``running``; the
stand-in sinks it). Per VM: power-on -> installed (agent done) and installed ->
running; ours adds the phase ``firstboot``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.loader import LOADER_DIR
from provisioner.bootnames import config_name
from provisioner.config import load_settings
from provisioner.domain import normalize_mac
from provisioner.installer import Installer
from provisioner.service import Service
from tests.e2e.installer_lab import (
    KERNEL_ARGS,
    Artifacts,
    InstallerLab,
    installer_lab,
    make_artifacts,
)
from tests.support import netns
from tests.support.debianrelease import build_debian_release
from tests.support.paddedrelease import build_padded_release
from tests.support.vm import Vm

HERE = Path(__file__).resolve().parent
SERVER = netns.SERVER_IP


@dataclass(frozen=True)
class Setup:
    """What every run installs and how far it goes."""

    art: Artifacts
    release: str  # tiny (the lab's avbox release), debian, debian200
    image: Path | None  # the Debian squashfs (None: tiny)
    until: str  # installed, running
    timeout: int


#: release -> slot size (MiB), disk (MiB): the slot holds the image verbatim
DEBIAN_DISKS = {"debian": (192, 768), "debian200": (256, 1024)}


def _vms(il: InstallerLab, setup: Setup, count: int) -> list[Vm]:
    if setup.image is None:
        il.catalogue()
        vms = [il.vm("bios") for _ in range(count)]
        for i, vm in enumerate(vms):
            opts = [f"ip.192.0.2.{60 + i}", "submask.255.255.255.0"] if i % 2 == 0 else []
            il.node(vm, *opts)
        return vms
    il.cli("image", "add", str(setup.image), "--name", "debian", "--version", "12")
    slot, disk = DEBIAN_DISKS[setup.release]
    vms = [il.vm("bios", disk_mib=disk, mem_mib=512) for _ in range(count)]
    for i, vm in enumerate(vms):  # a static address each: the installed system reports
        line = f"{KERNEL_ARGS} ip.192.0.2.{60 + i} submask.255.255.255.0 slotsize.{slot}"
        il.cli("node", "set", vm.mac, "--hostname", f"deb{i}", "--release", "debian:12",
               "--action", "install", "--options", line)  # fmt: skip
    return vms


def _boot(
    il: InstallerLab, vms: list[Vm], setup: Setup, up: Callable[[Vm], bool]
) -> dict[str, float]:
    """Power on every VM; in ``running`` mode restart each from its disk as soon as
    the install's reboot ends it, until ``up`` says it reported. Returns when each
    QEMU of the install ended (``time.time()``, running mode only)."""
    if setup.until == "installed":
        il.boot(vms, timeout=setup.timeout)
        return {}
    for vm in vms:
        vm.boot(setup.timeout)
    ended: dict[str, float] = {}
    seen: set[str] = set()
    deadline = time.monotonic() + setup.timeout
    while len(seen) < len(vms):
        if time.monotonic() > deadline:
            raise SystemExit(f"not running after {setup.timeout} s: "
                             f"{[vm.mac for vm in vms if vm.mac not in seen]}")  # fmt: skip
        for vm in vms:
            if vm.boots == 1 and not vm.running():
                ended[vm.mac] = time.time()
                vm.wait(10)
                vm.boot(setup.timeout, from_disk=True)
            elif vm.boots == 2 and vm.mac not in seen:
                if up(vm):
                    seen.add(vm.mac)
                elif not vm.running():
                    raise SystemExit(f"{vm.mac}: QEMU ended before its first report\n"
                                     f"{vm.console()}")  # fmt: skip
        time.sleep(0.2)
    return ended


def run_ours(setup: Setup, count: int, work: Path) -> dict[str, Any]:
    with netns.lab(work) as lab, installer_lab(lab, setup.art, work) as il:
        vms = _vms(il, setup, count)
        il.start_server()
        t0 = time.time()
        ended = _boot(il, vms, setup, lambda vm: il.node_state(vm).state.value == "running")
        wall = time.time() - t0
        totals, phases, running, rebooted = [], [], [], []
        for vm in vms:
            node = il.node_state(vm)
            events = il.events(vm)
            done = next((e for e in events if e.kind == "agent.done"), None)
            if node.state.value != setup.until or done is None:
                raise SystemExit(f"ours: {vm.mac} not {setup.until}" + il.why(vm))
            totals.append(done.time.timestamp() - t0)  # all VMs start within milliseconds
            phases.append(node.phases)
            if setup.until == "running":
                up = next(e for e in events if e.kind == "node.running")
                running.append(up.time.timestamp() - done.time.timestamp())
                rebooted.append(ended[vm.mac] - done.time.timestamp())
        res: dict[str, Any] = {"wall": wall, "per_vm": totals, "phases": phases}
        if running:
            res |= {"to_running": running, "reboot": rebooted}
        return res


def _snapshot_for_standin(il: InstallerLab, vms: list[Vm], root: Path) -> None:
    """Copy what our server would serve into a static tree."""
    settings = load_settings(
        {"PROVISIONER_DATA_DIR": str(il.data)}, overrides={"server_ip": SERVER}
    )
    service = Service(il.store, settings)
    tftp = root / "tftp"
    (tftp / "pxelinux.cfg").mkdir(parents=True)
    shutil.copy("/usr/lib/PXELINUX/pxelinux.0", tftp)
    shutil.copy("/usr/lib/syslinux/modules/bios/ldlinux.c32", tftp)
    for name in ("vmlinuz", "initrd.img"):
        os.link(il.data / "boot" / name, tftp / name)
    installer = Installer(service)
    for vm in vms:
        name = config_name(vm.mac)
        text = service.pxelinux_file(name)
        assert text is not None
        (tftp / "pxelinux.cfg" / name).write_text(text)
        node = il.node_state(vm)
        assert node.build_token
        agent = root / "http" / "agent"
        url = f"http://{SERVER}:8080/"
        files = {
            f"manifest/{node.build_token}": installer.manifest(node, url).env().encode(),
            f"settings.tar/{node.build_token}": installer.settings_tar(node, url),
            **{f"boot.cfg/{node.build_token}/{slot}": installer.slot_boot_cfg(node, slot).encode()
               for slot in ("A", "B")},
        }  # fmt: skip
        for rel, data in files.items():
            (agent / rel).parent.mkdir(parents=True, exist_ok=True)
            (agent / rel).write_bytes(data)
    shutil.copytree(
        il.data / "boot" / LOADER_DIR, root / "http" / LOADER_DIR, copy_function=os.link
    )
    shutil.copytree(
        il.data / "media",
        root / "http" / "media",
        ignore=shutil.ignore_patterns(".uploads"),
        copy_function=os.link,
    )


def _reports(events: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in events.read_text().splitlines()]


def run_standin(setup: Setup, count: int, work: Path) -> dict[str, Any]:
    with netns.lab(work) as lab, installer_lab(lab, setup.art, work) as il:
        vms = _vms(il, setup, count)
        root = work / "standin"
        _snapshot_for_standin(il, vms, root)
        events = work / "events.jsonl"
        events.touch()
        lab.start(
            [
                "dnsmasq",
                "--conf-file=/dev/null",
                "--keep-in-foreground",
                "--user=root",
                "--group=root",
                f"--pid-file={work}/dnsmasq.pid",
                "--interface=br0",
                "--bind-interfaces",
                "--except-interface=lo",
                "--port=0",
                "--dhcp-range=192.0.2.100,192.0.2.199,255.255.255.0,10m",
                "--dhcp-authoritative",
                "--no-ping",
                f"--dhcp-leasefile={work}/leases",
                f"--dhcp-option=option:router,{SERVER}",
                "--dhcp-boot=pxelinux.0",
                "--enable-tftp",
                f"--tftp-root={root / 'tftp'}",
                f"--log-facility={work}/dnsmasq.log",
            ],
            work / "dnsmasq.out",
        )
        lab.start(
            [
                sys.executable,
                str(HERE / "installer" / "standin_http.py"),
                "--bind",
                SERVER,
                "--port",
                "8080",
                "--root",
                str(root / "http"),
                "--events",
                str(events),
            ],
            work / "http.log",
        )
        lab.wait_tcp(8080, timeout=30)
        lab.wait_udp(67, timeout=30)
        lab.start(
            [sys.executable, "-m", "tests.support.ra", "--iface", "br0"],
            work / "ra.log",
            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        )
        t0 = time.time()

        def up(vm: Vm) -> bool:
            return any(
                e["_path"] == "/node/report" and normalize_mac(e.get("mac", "")) == vm.mac
                for e in _reports(events)
            )

        ended = _boot(il, vms, setup, up)
        wall = time.time() - t0
        done: dict[str, float] = {}
        first: dict[str, float] = {}
        tokens = {il.node_state(vm).build_token: vm.mac for vm in vms}
        for e in _reports(events):
            if e.get("step") == "done" and e.get("status") == "ok":
                done[tokens[e["_token"]]] = e["_time"]
            elif e["_path"] == "/node/report":
                first.setdefault(normalize_mac(e["mac"]), e["_time"])
        missing = [vm.mac for vm in vms if vm.mac not in done]
        if missing:
            raise SystemExit(f"stand-in: not installed: {missing}")
        res: dict[str, Any] = {"wall": wall, "per_vm": [done[vm.mac] - t0 for vm in vms]}
        if setup.until == "running":
            res |= {
                "to_running": [first[vm.mac] - done[vm.mac] for vm in vms],
                "reboot": [ended[vm.mac] - done[vm.mac] for vm in vms],
            }
        return res


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--vms", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--release", choices=("tiny", *DEBIAN_DISKS), default="tiny")
    ap.add_argument("--until", choices=("installed", "running"), default="installed")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per run (VM)")
    ap.add_argument("--logs", type=Path, help="keep each run's consoles and server logs here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces, taps)")
    missing = [c for c in ("dnsmasq", "qemu-system-x86_64", "mksquashfs") if not shutil.which(c)]
    if missing:  # found out before the first run, not after it
        raise SystemExit(f"missing: {' '.join(missing)} (apt-get install dnsmasq-base ...)")
    base = Path(tempfile.mkdtemp(prefix="installer-bench-"))
    try:
        art = make_artifacts(base / "artifacts")
        build: dict[str, Callable[[Path], Path]] = {
            "debian": build_debian_release,
            "debian200": build_padded_release,
        }
        image = build[args.release](base / "release.squashfs") if args.release in build else None
        setup = Setup(art, args.release, image, args.until, args.timeout)
        results: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for count in args.vms:
            runs = results.setdefault(str(count), {"ours": [], "standin": []})
            for r in range(args.rounds):
                order = ("ours", "standin") if r % 2 == 0 else ("standin", "ours")
                for which in order:
                    work = base / f"{which}-{count}-{r}"
                    work.mkdir()
                    fn = run_ours if which == "ours" else run_standin
                    res = fn(setup, count, work)
                    runs[which].append(res)
                    print(
                        f"{count} VM(s) {which:8} round {r}: wall {res['wall']:.1f} s, "
                        f"per VM median {statistics.median(res['per_vm']):.1f} s",
                        flush=True,
                    )
                    if args.logs:
                        _keep_logs(work, args.logs / work.name)
                    shutil.rmtree(work, ignore_errors=True)
        report(results)
        if args.json:
            meta = {"release": args.release, "until": args.until}
            args.json.write_text(json.dumps({"meta": meta, **results}, indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(["sync"], check=False)


def _keep_logs(work: Path, dest: Path) -> None:
    for f in [*work.glob("*.log"), *work.glob("vm*/*.log"), *work.glob("events.jsonl")]:
        target = dest / f.relative_to(work)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)


def report(results: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    print("\n| VMs | ours: per VM (median) | stand-in | ratio | ours: wall | stand-in: wall |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count, runs in results.items():
        ours = statistics.median(x for r in runs["ours"] for x in r["per_vm"])
        stand = statistics.median(x for r in runs["standin"] for x in r["per_vm"])
        wo = statistics.median(r["wall"] for r in runs["ours"])
        ws = statistics.median(r["wall"] for r in runs["standin"])
        print(
            f"| {count} | {ours:.1f} s | {stand:.1f} s | {ours / stand:.2f} | {wo:.1f} s | "
            f"{ws:.1f} s |"
        )
    for count, runs in results.items():
        if "to_running" not in runs["ours"][0]:
            continue
        cells: list[float] = []
        for which in ("ours", "standin"):
            for key in ("to_running", "reboot"):
                cells.append(statistics.median(x for r in runs[which] for x in r[key]))
            pairs = (zip(r["per_vm"], r["to_running"], strict=True) for r in runs[which])
            total = [a + b for pair in pairs for a, b in pair]
            cells.append(statistics.median(total))
        print(
            f"- {count} VM(s), installed -> running (reboot part), power-on -> running: "
            f"ours {cells[0]:.1f} ({cells[1]:.1f}), {cells[2]:.1f} s; "
            f"stand-in {cells[3]:.1f} ({cells[4]:.1f}), {cells[5]:.1f} s"
        )
    print("\nPhases (ours, median seconds over all VMs and rounds):")
    for count, runs in results.items():
        phases: dict[str, list[float]] = {}
        for r in runs["ours"]:
            for p in r["phases"]:
                for k, v in p.items():
                    phases.setdefault(k, []).append(v)
        text = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases.items())
        print(f"- {count} VM(s): {text}")


if __name__ == "__main__":
    main()
