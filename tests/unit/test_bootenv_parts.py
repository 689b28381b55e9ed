"""Pure parts of the boot environment and the installed-disk reader."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from media import cpio
from media.disklayout import STATE_BLOCK, best_state, parse_gpt, parse_state
from media.initrd import module_closure, modules_dep_for, parse_modules_dep
from provisioner.errors import ValidationError
from provisioner.installer import AgentManifest, FileRef


def test_cpio_archives_are_deterministic_and_readable_by_gnu_cpio(tmp_path: Path) -> None:
    entries = [
        cpio.file("init", b"#!/bin/sh\n", 0o755),
        cpio.directory("bin"),
        cpio.symlink("bin/sh", "busybox"),
        cpio.file("bin/busybox", b"\x7fELF"),
    ]
    data = cpio.archive(entries)
    assert data == cpio.archive(reversed(entries))
    if shutil.which("cpio") is None:
        pytest.skip("cpio not installed")
    listing = (
        subprocess.run(
            ["cpio", "-t", "--quiet"], input=data, capture_output=True, check=True, timeout=30
        )
        .stdout.decode()
        .split()
    )
    assert listing == ["bin", "bin/busybox", "bin/sh", "init"]


@pytest.mark.parametrize("path", ["/abs", "a/../b", ""])
def test_cpio_refuses_paths_outside_the_archive(path: str) -> None:
    with pytest.raises(cpio.CpioError):
        cpio.archive([cpio.file(path, b"")])


DEP = """kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko kernel/drivers/net/net_failover.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/gpu/huge.ko:
"""


def test_modules_come_with_everything_they_depend_on_and_nothing_else() -> None:
    dep = parse_modules_dep(DEP)
    shipped = module_closure(dep, ["ext4", "virtio-net", "not_there"])
    assert shipped == sorted(
        [
            "kernel/fs/ext4/ext4.ko",
            "kernel/lib/crc16.ko",
            "kernel/fs/mbcache.ko",
            "kernel/fs/jbd2/jbd2.ko",
            "kernel/drivers/net/virtio_net.ko",
            "kernel/net/core/failover.ko",
            "kernel/drivers/net/net_failover.ko",
        ]
    )
    text = modules_dep_for(dep, shipped)
    assert "huge.ko" not in text
    assert "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n" in text


def _record(seq: int, active: str, corrupt: bool = False) -> bytes:
    body = (
        f"PROVISIONER-STATE 1\nseq {seq}\nactive {active}\n"
        f"slot A avbox:2.0 {'a' * 64} 123 1795718202\nmac 52:54:00:c0:02:00\n"
    )
    digest = hashlib.sha256(body.encode()).hexdigest()
    text = body + f"sum {digest}\n"
    if corrupt:
        text = text.replace("active", "actvie")
    return text.encode().ljust(STATE_BLOCK, b"\0")


def test_the_valid_state_copy_with_the_highest_seq_wins() -> None:
    part = _record(4, "A") + b"\0" * (64 * 1024 - STATE_BLOCK) + _record(5, "B")
    state = best_state(part)
    assert state is not None
    assert (state.seq, state.active, state.slots["A"].release) == (5, "B", "avbox:2.0")
    torn = _record(4, "A") + b"\0" * (64 * 1024 - STATE_BLOCK) + _record(5, "B", corrupt=True)
    assert best_state(torn).active == "A"  # type: ignore[union-attr]
    assert parse_state(b"\0" * STATE_BLOCK) is None


@pytest.mark.skipif(shutil.which("sfdisk") is None, reason="sfdisk not installed")
def test_gpt_partitions_are_read_as_sfdisk_wrote_them(tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    with disk.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    script = (
        'label: gpt\nsize=1MiB, name="prov-state"\nsize=8MiB, name="prov-A"\n'
        'size=8MiB, name="prov-B"\nname="prov-data"\n'
    )
    subprocess.run(
        ["sfdisk", "--quiet", str(disk)],
        input=script.encode(),
        check=True,
        capture_output=True,
        timeout=60,
    )
    parts = parse_gpt(disk.read_bytes()[: 34 * 512])
    assert [p.name for p in parts] == ["prov-state", "prov-A", "prov-B", "prov-data"]
    assert parts[1].size == 8 * 1024 * 1024
    assert parts[1].offset == parts[0].offset + 1024 * 1024


def _manifest(image: FileRef) -> AgentManifest:
    return AgentManifest("52:54:00:c0:02:00", "install", "avbox:2.0", image, (), 64, None)


def test_the_agent_manifest_is_shell_safe() -> None:
    ok = _manifest(FileRef("a.squashfs", "http://192.0.2.1:8080/media/a.squashfs", 1, "ab" * 32))
    assert ok.env().splitlines()[:3] == ["MAC=52:54:00:c0:02:00", "ACTION=install", "SLOT_MIB=64"]
    bad = _manifest(FileRef("a", "http://x/$(reboot)", 1, "ab" * 32))
    with pytest.raises(ValidationError, match="IMAGE_URL"):
        bad.env()
