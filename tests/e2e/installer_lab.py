"""The end-to-end installer lab: ``provisioner serve`` (DHCP, TFTP, DNS, HTTP) in a
private namespace, QEMU VMs PXE-booting against it, and readers for the disks
they leave behind. No dnsmasq, no stand-in: every byte a VM gets comes from us.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from media.disklayout import DiskState, LayoutError, Partition, best_state, parse_gpt
from media.loader import LOADER_DIR, read_loader
from provisioner.cli import main as cli
from provisioner.db.sqlstore import SqlStore
from provisioner.domain import Event, Node
from tests.support.netns import SERVER_IP, Lab
from tests.support.tinyrelease import add_boot_contract
from tests.support.vm import Vm

BIN = Path(sys.executable).parent
KERNEL_ARGS = "console=ttyS0,115200 loglevel=3 no_timer_check panic=-1"
SLOT_MIB = 160


@dataclass(frozen=True)
class Artifacts:
    """Files made once per test session."""

    boot: Path  # vmlinuz, initrd.img, bootenv.json
    small: Path  # release avbox 2.0 (a few MB)
    big: Path  # release avbox 2.1 (96 MiB, uncompressed: writing it takes a while)
    iso: Path
    definition: Path
    disk_image: Path


def make_artifacts(root: Path) -> Artifacts:
    from media.initrd import build_boot_env
    from media.loader import LOADER_DIR, build_loader

    env = build_boot_env(root / "bootenv-data")
    build_loader(env.vmlinuz.parent / LOADER_DIR)
    src = root / "src"
    for rel, size in (("small", 4), ("big", 96)):
        d = src / rel
        (d / "etc").mkdir(parents=True)
        (d / "etc" / "release").write_text(f"avbox {rel}\n")
        add_boot_contract(d)  # a release (inspect_release); these slots are not booted
        with (d / "blob").open("wb") as f:
            f.write(os.urandom(size * 1024 * 1024))
    small, big = root / "avbox-2.0.squashfs", root / "avbox-2.1.squashfs"
    for d, out in ((src / "small", small), (src / "big", big)):
        subprocess.run(
            [
                "mksquashfs",
                str(d),
                str(out),
                "-noappend",
                "-quiet",
                "-no-progress",
                "-noI",
                "-noD",
                "-noF",
                "-noX",
                "-all-root",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    iso_dir = src / "iso"
    iso_dir.mkdir()
    (iso_dir / "README").write_text("tiny core stand-in\n")
    iso = root / "tinycore.iso"
    subprocess.run(
        ["xorriso", "-as", "mkisofs", "-quiet", "-V", "TINYCORE", "-o", str(iso), str(iso_dir)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    definition = root / "101.con"
    definition.write_text("name: tinycore\nmemory: 256\ndisk: v101.img\ncdrom: tinycore.iso\n")
    disk_image = root / "v101.img"
    with disk_image.open("wb") as f:
        f.write(os.urandom(2 * 1024 * 1024))
    return Artifacts(env.vmlinuz.parent, small, big, iso, definition, disk_image)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class InstallerLab:
    """One data dir + one server + VMs; ``lab`` provides the namespace."""

    def __init__(self, lab: Lab, artifacts: Artifacts, workdir: Path) -> None:
        self.lab = lab
        self.art = artifacts
        self.data = workdir / "data"
        (self.data / "boot").mkdir(parents=True)
        for name in ("vmlinuz", "initrd.img", "bootenv.json"):
            os.link(artifacts.boot / name, self.data / "boot" / name)
        shutil.copytree(artifacts.boot / LOADER_DIR, self.data / "boot" / LOADER_DIR,
                        copy_function=os.link)  # fmt: skip
        self.env = {**os.environ, "PROVISIONER_DATA_DIR": str(self.data)}
        self.store = SqlStore(f"sqlite:///{self.data / 'provisioner.db'}")
        self.server: subprocess.Popen[bytes] | None = None
        self.vms: list[Vm] = []

    # -- set-up through the real CLI -----------------------------------------------------
    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)
        assert result.exit_code == 0, f"provisioner {' '.join(args)}:\n{result.output}"
        return result.output

    def catalogue(self) -> None:
        """Release avbox:2.0, bundle tinycore (copyiso/copydef/copyimg), profile avbox."""
        self.cli("image", "add", str(self.art.small), "--name", "avbox", "--version", "2.0")
        for kind, path in (
            ("iso", self.art.iso),
            ("definition", self.art.definition),
            ("image", self.art.disk_image),
        ):
            raw = ["--raw"] if kind == "image" else []  # random bytes: a declared raw disk
            self.cli("bundle", "upload", "tinycore", kind, str(path), *raw)
        self.cli(
            "profile",
            "set",
            "avbox",
            "--kernel",
            "vmlinuz",
            "--initrd",
            "initrd.img",
            "--options",
            f"{KERNEL_ARGS} keyboard.de_CH lang.de auto slotsize.{SLOT_MIB}",
            "--release",
            "avbox:2.0",
            "--bundle",
            "tinycore",
        )

    def node(self, vm: Vm, *options: str, **fields: str) -> None:
        args = ["node", "set", vm.mac, "--profile", "avbox"]
        if options:
            args += ["--options", " ".join(options)]
        for key, value in fields.items():
            args += [f"--{key}", value]
        self.cli(*args)

    def release_only(self, vm: Vm) -> None:
        """What a new user types: a release and action install; no profile, no
        options, no boot file names."""
        self.cli("node", "set", vm.mac, "--release", "avbox:2.0", "--action", "install")

    def follow(self, vm: Vm) -> Follower:
        """``provisioner node events MAC --follow --until-done`` as its own process,
        over the store, each line stamped when it arrives."""
        argv = [str(BIN / "provisioner"), "node", "events", vm.mac, "--follow", "--until-done"]
        argv += ["--interval", "0.5", "--timeout", "600"]
        return Follower(argv, self.env)

    # -- the server --------------------------------------------------------------------------
    def start_server(self, *, ipxe_script: bool = False) -> None:
        env = {
            **self.env,
            "PROVISIONER_DHCP_POOL": "192.0.2.100-192.0.2.199",
            "PROVISIONER_DHCP_ROUTER": SERVER_IP,
            "PROVISIONER_DOMAIN": "lab.test",
            "PROVISIONER_IPXE_SCRIPT": "on" if ipxe_script else "off",
            "PROVISIONER_HTTP_WORKERS": "2",
            "PROVISIONER_HTTP_THREADS": "8",
            # what a node with no slotsize. option gets (the default 8 GiB is no VM disk)
            "PROVISIONER_SLOT_SIZE_MIB": str(SLOT_MIB),
        }
        log = self.lab.workdir / "server.log"
        self.server = self.lab.start(
            [
                str(BIN / "provisioner"),
                "serve",
                "--http",
                f"{SERVER_IP}:8080",
                "--tftp",
                f"{SERVER_IP}:69",
                "--dns",
                f"{SERVER_IP}:53",
                "--dhcp",
                "full",
                "--interface",
                "br0",
                "--server-ip",
                SERVER_IP,
            ],
            log,
            env=env,
        )
        self.lab.wait_tcp(8080, timeout=60, proc=self.server, log=log)
        self.lab.wait_udp(67, timeout=30, proc=self.server, log=log)
        # iPXE waits ~13 s for IPv6 unless a router advertisement says "nothing here"
        self.lab.start(
            [sys.executable, "-m", "tests.support.ra", "--iface", "br0"],
            self.lab.workdir / "ra.log",
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )

    def server_log(self, tail: int = 60) -> str:
        text = (self.lab.workdir / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-tail:])

    # -- VMs ------------------------------------------------------------------------------------
    def vm(self, firmware: str = "bios", disk_mib: int = 512, mem_mib: int = 256) -> Vm:
        vm = Vm(self.lab, len(self.vms), firmware=firmware, disk_mib=disk_mib, mem_mib=mem_mib)
        self.vms.append(vm)
        return vm

    def boot(self, vms: list[Vm], timeout: int = 360) -> None:
        """Boot and wait until each VM ends (the agent reboots: -no-reboot ends QEMU)."""
        for vm in vms:
            vm.boot(timeout)
        for vm in vms:
            vm.wait(timeout + 30)

    def why(self, vm: Vm) -> str:
        events = "\n".join(
            f"  {e.time:%H:%M:%S} {e.kind} {e.message} {e.data}" for e in reversed(self.events(vm))
        )
        return (
            f"\n--- {vm.mac} node: {self.node_state(vm)}\n--- events:\n{events}"
            f"\n--- console:\n{vm.console()}\n--- server log:\n{self.server_log()}"
        )

    # -- what the server recorded ------------------------------------------------------------
    def node_state(self, vm: Vm) -> Node:
        return self.store.get_node(vm.mac)

    def events(self, vm: Vm) -> list[Event]:
        return self.store.list_events(vm.mac, limit=500)

    def wait_event(self, vm: Vm, match: Callable[[Event], bool], timeout: float) -> Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events(vm):
                if match(e):
                    return e
            if not vm.running():
                break
            time.sleep(0.1)
        raise AssertionError(f"no such event within {timeout}s" + self.why(vm))

    # -- the disk, read (and written) from outside -------------------------------------------
    def partitions(self, vm: Vm) -> dict[str, Partition]:
        with vm.disk.open("rb") as f:
            return {p.name: p for p in parse_gpt(f.read(34 * 512))}

    def partitions_or_none(self, vm: Vm) -> dict[str, Partition] | None:
        try:
            return self.partitions(vm)
        except LayoutError:
            return None

    def disk_state(self, vm: Vm) -> DiskState | None:
        part = self.partitions(vm)["prov-state"]
        with vm.disk.open("rb") as f:
            f.seek(part.offset)
            return best_state(f.read(part.size))

    def slot_sha256(self, vm: Vm, slot: str, size: int) -> str:
        part = self.partitions(vm)[f"prov-{slot}"]
        h = hashlib.sha256()
        with vm.disk.open("rb") as f:
            f.seek(part.offset)
            left = size
            while left:
                chunk = f.read(min(left, 1 << 20))
                h.update(chunk)
                left -= len(chunk)
        return h.hexdigest()

    def _data(self, vm: Vm) -> str:
        return f"{vm.disk}?offset={self.partitions(vm)['prov-data'].offset}"

    def data_file(self, vm: Vm, path: str) -> bytes:
        out = subprocess.run(
            ["debugfs", "-R", f"cat {path}", self._data(vm)],
            capture_output=True,
            timeout=60,
            check=True,
        )
        return out.stdout

    def write_data_file(self, vm: Vm, path: str, content: bytes) -> None:
        local = self.lab.workdir / "upload.tmp"
        local.write_bytes(content)
        subprocess.run(
            ["debugfs", "-w", "-R", f"write {local} {path}", self._data(vm)],
            capture_output=True,
            timeout=60,
            check=True,
        )

    def loader_env_offset(self) -> int:
        """Where the loader's environment block sits in the EFI system partition."""
        loader = read_loader(self.data / "boot" / LOADER_DIR)
        assert loader is not None
        return loader.env_offset

    def close(self) -> None:
        self.store.close()


@contextmanager
def installer_lab(lab: Lab, artifacts: Artifacts, workdir: Path) -> Iterator[InstallerLab]:
    il = InstallerLab(lab, artifacts, workdir)
    try:
        yield il
    finally:
        for vm in il.vms:
            vm.kill()
        il.close()


class Follower:
    """A process whose output lines are read as they come, with their arrival time."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        self.reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return rc


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def need_tools() -> None:
    from tests.support import netns

    netns.need_commands("mksquashfs", "xorriso", "debugfs", "qemu-system-x86_64", "busybox")
    if shutil.which("apt-get") is None:
        netns.need_commands("apt-get")
