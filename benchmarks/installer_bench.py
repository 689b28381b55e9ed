"""Boot-to-installed time of QEMU VMs: our server against the lab's stand-in.

    sudo .venv/bin/python -m benchmarks.installer_bench                 # 1 and 8 VMs, 2 rounds
    sudo .venv/bin/python -m benchmarks.installer_bench --vms 1 --rounds 1

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
from pathlib import Path
from typing import Any

from media.loader import LOADER_DIR
from provisioner.bootnames import config_name
from provisioner.config import load_settings
from provisioner.installer import Installer
from provisioner.service import Service
from tests.e2e.installer_lab import Artifacts, InstallerLab, installer_lab, make_artifacts
from tests.support import netns
from tests.support.vm import Vm

HERE = Path(__file__).resolve().parent
SERVER = netns.SERVER_IP


def _vms(il: InstallerLab, count: int) -> list[Vm]:
    vms = [il.vm("bios") for _ in range(count)]
    for i, vm in enumerate(vms):
        opts = [f"ip.192.0.2.{60 + i}", "submask.255.255.255.0"] if i % 2 == 0 else []
        il.node(vm, *opts)
    return vms


def run_ours(art: Artifacts, count: int, work: Path) -> dict[str, Any]:
    with netns.lab(work) as lab, installer_lab(lab, art, work) as il:
        il.catalogue()
        vms = _vms(il, count)
        il.start_server()
        t0 = time.time()
        il.boot(vms, timeout=900)
        wall = time.time() - t0
        totals, phases = [], []
        for vm in vms:
            node = il.node_state(vm)
            done = next((e for e in il.events(vm) if e.kind == "agent.done"), None)
            if node.state.value != "installed" or done is None:
                raise SystemExit(f"ours: {vm.mac} not installed" + il.why(vm))
            totals.append(done.time.timestamp() - t0)  # all VMs start within milliseconds
            phases.append(node.phases)
        return {"wall": wall, "per_vm": totals, "phases": phases}


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


def run_standin(art: Artifacts, count: int, work: Path) -> dict[str, Any]:
    with netns.lab(work) as lab, installer_lab(lab, art, work) as il:
        il.catalogue()
        vms = _vms(il, count)
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
        il.boot(vms, timeout=900)
        wall = time.time() - t0
        done = {}
        tokens = {il.node_state(vm).build_token: vm.mac for vm in vms}
        for line in events.read_text().splitlines():
            e = json.loads(line)
            if e.get("step") == "done" and e.get("status") == "ok":
                done[tokens[e["_token"]]] = e["_time"]
        missing = [vm.mac for vm in vms if vm.mac not in done]
        if missing:
            raise SystemExit(f"stand-in: not installed: {missing}")
        return {"wall": wall, "per_vm": [done[vm.mac] - t0 for vm in vms]}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--vms", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces, taps)")
    base = Path(tempfile.mkdtemp(prefix="installer-bench-"))
    try:
        art = make_artifacts(base / "artifacts")
        results: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for count in args.vms:
            runs = results.setdefault(str(count), {"ours": [], "standin": []})
            for r in range(args.rounds):
                order = ("ours", "standin") if r % 2 == 0 else ("standin", "ours")
                for which in order:
                    work = base / f"{which}-{count}-{r}"
                    work.mkdir()
                    fn = run_ours if which == "ours" else run_standin
                    res = fn(art, count, work)
                    runs[which].append(res)
                    print(
                        f"{count} VM(s) {which:8} round {r}: wall {res['wall']:.1f} s, "
                        f"per VM median {statistics.median(res['per_vm']):.1f} s",
                        flush=True,
                    )
                    shutil.rmtree(work, ignore_errors=True)
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(["sync"], check=False)


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
    print("\nPhases (ours, median seconds over all VMs and rounds):")
    for count, runs in results.items():
        phases: dict[str, list[float]] = {}
        for r in runs["ours"]:
            for p in r["phases"]:
                for k, v in p.items():
                    phases.setdefault(k, []).append(v)
        cells = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases.items())
        print(f"- {count} VM(s): {cells}")


if __name__ == "__main__":
    main()
