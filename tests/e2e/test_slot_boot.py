"""A release boots from its slot: QEMU (TCG) boots, directly, the kernel and the
initramfs that ``build_release_boot`` made for a tiny release, on a disk in layout
v2 assembled on the host; the VM sits on a private namespace (192.0.2.0/24) with a
stand-in for ``POST /node/report`` (tests/support/reportsink.py: the real route is
the lead's) and a stand-in for the loader's grubenv.sh (tests/support/).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from media.releaseboot import ReleaseBoot, build_release_boot
from media.releasefacts import inspect_release
from tests.e2e.installer_lab import need_tools
from tests.support import netns
from tests.support.slotdisk import data_file, make_disk, read_at
from tests.support.tinyrelease import build_tiny_release
from tests.support.vm import clean_serial, mac_for, require_qemu

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
GRUBENV = REPO / "tests" / "support" / "grubenv_standin.sh"
MAC = mac_for(0x31)
VM_IP = "192.0.2.50"
PORT = 8081
ENV_OFFSET = 4096
CREDENTIAL = "node-credential-7f3a"
UPPER = "provisioner/overlay/A/upper"


@dataclass(frozen=True)
class Release:
    image: Path
    boot: ReleaseBoot


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    netns.require()
    require_qemu()
    need_tools()
    return tmp_path_factory.mktemp("slot-boot")


@pytest.fixture(scope="module")
def release(root: Path) -> Release:
    image = build_tiny_release(root / "tiny-1.0.squashfs", "1.0", cache=root / "cache")
    return Release(image, build_release_boot(image, root / "boot-A", grubenv=GRUBENV))


@pytest.fixture(scope="module")
def systemd_release(root: Path) -> Release:
    image = build_tiny_release(
        root / "tiny-2.0.squashfs", "2.0", fake_systemd=True, cache=root / "cache"
    )
    return Release(image, build_release_boot(image, root / "boot-systemd", grubenv=GRUBENV))


@pytest.fixture(scope="module")
def broken(root: Path) -> Release:
    image = build_tiny_release(root / "tiny-1.1.squashfs", "1.1", broken=True, cache=root / "cache")
    return Release(image, build_release_boot(image, root / "boot-broken", grubenv=GRUBENV))


def _data_tree(root: Path) -> Path:
    tree = root / "data-tree"
    settings = tree / "provisioner" / "root" / "etc"
    (settings / "provisioner").mkdir(parents=True)
    (settings / "network").mkdir()
    (settings / "hostname").write_text("rack1-node7\n")
    (settings / "network" / "interfaces").write_text(
        "auto lo\niface lo inet loopback\n\n"
        f"auto eth0\niface eth0 inet static\n    address {VM_IP}\n    netmask 255.255.255.0\n"
    )
    (settings / "provisioner" / "node.conf").write_text(
        f"SERVER=http://{netns.SERVER_IP}:{PORT}\nMAC={MAC}\nINTERVAL=2\nENV_OFFSET={ENV_OFFSET}\n"
    )
    (settings / "systemd" / "network").mkdir(parents=True)
    (settings / "systemd" / "network" / "10-provisioner.network").write_text(
        "[Match]\nName=eth0\n\n[Network]\nAddress=192.0.2.50/24\n"
    )
    for slot, release in (("A", "tiny:1.0"), ("B", "tiny:2.0")):
        (tree / "provisioner" / "boot" / slot).mkdir(parents=True)
        (tree / "provisioner" / "boot" / slot / "release").write_text(f"{release}\n")
    (tree / "provisioner" / "credential").write_text(CREDENTIAL)
    return tree


class SlotVm:
    def __init__(
        self, lab: netns.Lab, release: Release, workdir: Path, slots: dict[str, Path]
    ) -> None:
        self.lab, self.release, self.workdir = lab, release, workdir
        self.disk = workdir / "disk.raw"
        make_disk(self.disk, 180, slots, _data_tree(workdir))
        self.tap = lab.add_tap("tap0")
        self.boots = 0
        self.proc: object = None

    @property
    def serial(self) -> Path:
        return self.workdir / f"serial{self.boots}.log"

    def boot(self, timeout: int = 240, slot: str = "A", boot: ReleaseBoot | None = None) -> None:
        self.boots += 1
        b = boot or self.release.boot
        argv = ["timeout", "-k", "5", str(timeout), "qemu-system-x86_64", "-accel", "tcg",
                "-m", "256", "-smp", "1", "-machine", "pc,graphics=off", "-display", "none",
                "-monitor", "none", "-no-reboot", "-serial", f"file:{self.serial}",
                "-kernel", str(b.vmlinuz), "-initrd", str(b.initrd),
                "-append", f"prov.slot={slot} console=ttyS0,115200 panic=10 no_timer_check",
                "-drive", f"file={self.disk},format=raw,if=virtio,cache=unsafe",
                "-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=n0,mac={MAC},romfile=",
                "-device", "virtio-rng-pci"]  # fmt: skip
        self.proc = self.lab.start(argv, self.workdir / f"qemu{self.boots}.log")

    def console(self) -> str:
        try:
            return clean_serial(self.serial.read_text(errors="replace"))
        except OSError:
            return ""

    def wait_console(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and text not in self.console():
            assert self.running(), f"VM ended before {text!r}:\n{self.console()[-3000:]}"
            time.sleep(0.5)
        assert text in self.console(), f"no {text!r} in {timeout}s:\n{self.console()[-3000:]}"

    def running(self) -> bool:
        return getattr(self.proc, "poll", lambda: 0)() is None

    def wait_end(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not self.running(), f"VM still running after {timeout}s:\n{self.console()[-3000:]}"

    def kill(self) -> None:
        if self.running():
            self.lab.stop(self.proc)  # type: ignore[arg-type]


class Sink:
    """The stand-in for POST /node/report in the lab's server namespace."""

    def __init__(self, lab: netns.Lab, workdir: Path) -> None:
        self.lab, self.workdir = lab, workdir
        self.record, self.answer = workdir / "reports.jsonl", workdir / "answer"
        self.answer.write_text("ACTION=none\nINTERVAL=2\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.workdir / "sink.log"
        self.proc = self.lab.start(
            [sys.executable, "-m", "tests.support.reportsink", netns.SERVER_IP, str(PORT),
             str(self.record), str(self.answer)],
            log,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        self.lab.wait_tcp(PORT, timeout=30, proc=self.proc, log=log)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[netns.Lab]:
    with netns.lab(tmp_path) as the_lab:
        yield the_lab


@pytest.fixture
def sink(lab: netns.Lab, tmp_path: Path) -> Sink:
    return Sink(lab, tmp_path)


@pytest.fixture
def vm(
    lab: netns.Lab, sink: Sink, tmp_path: Path, release: Release, request: pytest.FixtureRequest
) -> Iterator[tuple[SlotVm, Path, Path]]:
    """A VM on a disk with the tiny release in slot A (and in slot B the release of
    the ``broken`` or ``systemd_release`` fixture when the test asks for one); the
    sink runs unless the test takes ``sink`` itself (and starts it when it likes)."""
    if "sink" not in inspect.signature(request.function).parameters:
        sink.start()
    slots = {"A": release.image}
    for name in ("broken", "systemd_release"):
        if name in request.fixturenames:
            slots["B"] = request.getfixturevalue(name).image
    the_vm = SlotVm(lab, release, tmp_path, slots)
    try:
        yield the_vm, sink.record, sink.answer
    finally:
        the_vm.kill()


def _reports(record: Path) -> list[dict[str, object]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def _wait_reports(record: Path, n: int, vm: SlotVm, timeout: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while len(_reports(record)) < n and time.monotonic() < deadline and vm.running():
        time.sleep(0.5)
    got = _reports(record)
    assert len(got) >= n, f"{len(got)} reports, wanted {n}:\n{vm.console()[-3000:]}"
    return got


def _genv(vm: SlotVm) -> dict[str, str]:
    block = read_at(vm.disk, "prov-esp", ENV_OFFSET, 1024).decode(errors="replace")
    assert block.startswith("# GRUB Environment Block\n"), block[:80]
    return dict(
        line.split("=", 1) for line in block.splitlines()[1:] if "=" in line and line[0] != "#"
    )


def test_a_release_boots_from_its_slot_reports_and_keeps_its_writes_across_boots(
    vm: tuple[SlotVm, Path, Path],
) -> None:
    the_vm, record, _ = vm
    the_vm.boot()
    the_vm.wait_console("rack1-node7 login:", 180)
    assert "TINY-RELEASE 1.0 up" in the_vm.console()
    report = _wait_reports(record, 1, the_vm, 60)[0]
    form = report["form"]
    assert isinstance(form, dict)
    assert report["path"] == "/node/report"
    assert report["authorization"] == f"Bearer {CREDENTIAL}"
    assert report["content_type"] == "application/x-www-form-urlencoded"
    assert (form["mac"], form["slot"], form["release"]) == (MAC, "A", "tiny:1.0")
    assert form["kernel"] == the_vm.release.boot.facts.kernel_version
    assert form["addresses"] == f"{VM_IP}/24"
    assert float(str(form["uptime"])) > 0
    # step 1 of the reporter: this boot marked good in the boot environment
    assert _genv(the_vm)["A_OK"] == "1"
    the_vm.kill()  # the plug, pulled
    boots = data_file(the_vm.disk, f"{UPPER}/root/boots.log")
    assert boots is not None
    assert len(boots.splitlines()) == 1
    hostname = data_file(the_vm.disk, f"{UPPER}/etc/hostname")
    assert hostname == b"rack1-node7\n"  # the settings tree, copied over the release

    the_vm.boot()
    the_vm.wait_console("rack1-node7 login:", 180)
    the_vm.kill()
    boots = data_file(the_vm.disk, f"{UPPER}/root/boots.log")
    assert boots is not None
    assert len(boots.splitlines()) == 2  # the first boot's line survived the reboot


def test_an_action_switch_answer_activates_the_other_slot_and_reboots(
    vm: tuple[SlotVm, Path, Path],
) -> None:
    the_vm, record, answer = vm
    answer.with_name(answer.name + ".once").write_text("ACTION=switch\n")
    the_vm.boot()
    the_vm.wait_end(240)  # -no-reboot: the reboot ends QEMU
    console = the_vm.console()
    assert "switch: slot B activated, rebooting" in console, console[-3000:]
    assert _reports(record)[0]["answered"] == "ACTION=switch\n"
    env = _genv(the_vm)
    assert env["ORDER"] == "B A"
    assert env["B_OK"] == "0"
    assert env["A_OK"] == "1"


def test_the_tiny_release_meets_the_contract_and_boots_with_its_own_kernel(
    release: Release,
) -> None:
    facts = inspect_release(release.image)
    assert facts == release.boot.facts
    assert facts.kernel_version.endswith("-amd64")  # Debian's kernel, from the image
    assert (facts.init, facts.init_kind, facts.has_ifupdown) == ("/sbin/init", "other", True)


def test_a_release_whose_init_fails_panics_and_the_machine_restarts(
    vm: tuple[SlotVm, Path, Path], broken: Release
) -> None:
    the_vm, record, _ = vm
    the_vm.boot(slot="B", boot=broken.boot)
    the_vm.wait_end(120)  # panic=10, then -no-reboot ends QEMU: GRUB would count a try
    console = the_vm.console()
    assert "TINY-RELEASE 1.1 broken" in console
    assert "Kernel panic" in console
    assert "Rebooting in 10 seconds" in console
    assert _reports(record) == []


def test_a_slot_that_is_neither_a_nor_b_is_refused_before_anything_is_mounted(
    vm: tuple[SlotVm, Path, Path],
) -> None:
    the_vm, _, _ = vm
    the_vm.boot(slot="C")
    the_vm.wait_end(120)
    console = the_vm.console()
    assert "provisioner: prov.slot= on the kernel command line must be A or B, not 'C'" in console
    assert "Kernel panic" in console
    assert data_file(the_vm.disk, "provisioner/overlay") is None  # nothing was written


def test_a_systemd_release_gets_the_reporter_unit_and_networkd_enabled(
    vm: tuple[SlotVm, Path, Path], systemd_release: Release
) -> None:
    the_vm, record, _ = vm
    assert systemd_release.boot.facts.init_kind == "systemd"
    the_vm.boot(slot="B", boot=systemd_release.boot)
    the_vm.wait_console("rack1-node7 login:", 180)
    console = the_vm.console()
    unit = "UNIT /etc/systemd/system/provisioner-report.service: "
    for line in ("After=network.target", "Restart=always", "RestartSec=5",
                 "ExecStart=/usr/lib/provisioner/boot-report"):  # fmt: skip
        assert unit + line in console, console[-3000:]
    wants = "UNIT-LINK /etc/systemd/system/multi-user.target.wants/"
    assert f"{wants}provisioner-report.service -> ../provisioner-report.service" in console
    assert f"{wants}systemd-networkd.service -> /lib/systemd/system/systemd-networkd.service" in (
        console
    )
    form = _wait_reports(record, 1, the_vm, 60)[0]["form"]
    assert isinstance(form, dict)
    assert (form["slot"], form["release"]) == ("B", "tiny:2.0")


def test_the_reporter_retries_until_the_server_answers(
    vm: tuple[SlotVm, Path, Path], sink: Sink
) -> None:
    the_vm, record, _ = vm
    the_vm.boot()
    the_vm.wait_console("unreachable", 180)
    assert _reports(record) == []
    sink.start()
    reports = _wait_reports(record, 1, the_vm, 60)
    assert reports[0]["authorization"] == f"Bearer {CREDENTIAL}"
    assert "reported to http://192.0.2.1:8081: action none" in the_vm.console()
