"""The release contract (media/releasefacts.py) and the per-release boot files
(media/releaseboot.py), on real squashfs images made with mksquashfs."""

from __future__ import annotations

import gzip
import json
import lzma
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from media.releaseboot import build_release_boot
from media.releasefacts import ReleaseContractError, ReleaseFacts, inspect_release
from provisioner.errors import ValidationError
from tests.support.media import needs_mksquashfs
from tests.support.tinyrelease import FAKE_KERNEL, add_boot_contract

pytestmark = needs_mksquashfs
MODS = f"lib/modules/{FAKE_KERNEL}"


def squash(tree: Path, out: Path) -> Path:
    subprocess.run(
        ["mksquashfs", str(tree), str(out), "-noappend", "-quiet", "-no-progress", "-all-root"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=test\n")
    return add_boot_contract(root)


@pytest.fixture
def image(tmp_path: Path) -> Callable[[Path], Path]:
    return lambda tree: squash(tree, tmp_path / "release.squashfs")


def refused(image: Path) -> str:
    with pytest.raises(ReleaseContractError) as err:
        inspect_release(image)
    assert isinstance(err.value, ValidationError)  # a 422 naming the image at the HTTP edge
    assert err.value.field == "image"
    return err.value.detail


def modular(tree: Path) -> Path:
    """The contract tree with squashfs, overlay, ext4 and virtio_blk as compressed
    modules (ext4 needing jbd2) instead of built in."""
    m = tree / MODS
    (m / "modules.builtin").write_text("")
    mods = {
        "kernel/fs/squashfs/squashfs.ko.xz": "",
        "kernel/fs/overlayfs/overlay.ko.xz": "",
        "kernel/fs/jbd2/jbd2.ko.xz": "",
        "kernel/fs/ext4/ext4.ko.xz": "kernel/fs/jbd2/jbd2.ko.xz",
        "kernel/drivers/block/virtio_blk.ko.xz": "",
        "kernel/drivers/net/dummy.ko.xz": "",  # not needed to boot: not shipped
    }
    for rel in mods:
        (m / rel).parent.mkdir(parents=True, exist_ok=True)
        (m / rel).write_bytes(lzma.compress(f"module {rel}".encode()))
    (m / "modules.dep").write_text("".join(f"{p}: {d}".rstrip() + "\n" for p, d in mods.items()))
    return tree


def test_a_tree_with_the_boot_contract_is_a_release(
    tree: Path, image: Callable[[Path], Path]
) -> None:
    facts = inspect_release(image(tree))
    assert facts == ReleaseFacts(
        kernel=f"boot/vmlinuz-{FAKE_KERNEL}",
        kernel_version=FAKE_KERNEL,
        modules_dir=MODS,
        init="/sbin/init",
        init_kind="other",
        has_networkd=False,
        has_ifupdown=False,
    )
    assert ReleaseFacts.from_json(facts.to_json()) == facts


def test_a_merged_usr_systemd_release_with_networkd_and_ifupdown(
    tree: Path, image: Callable[[Path], Path]
) -> None:
    usr = tree / "usr"
    usr.mkdir()
    (tree / "lib").rename(usr / "lib")
    (tree / "lib").symlink_to("usr/lib")
    (tree / "sbin" / "init").unlink()
    (usr / "lib" / "systemd").mkdir()
    (usr / "lib" / "systemd" / "systemd").write_text("elf")
    (usr / "lib" / "systemd" / "systemd-networkd").write_text("elf")
    (tree / "sbin" / "init").symlink_to("/lib/systemd/systemd")
    (tree / "sbin" / "ifup").write_text("ifupdown")
    facts = inspect_release(image(tree))
    assert facts.modules_dir == f"usr/{MODS}"
    assert (facts.init_kind, facts.has_networkd, facts.has_ifupdown) == ("systemd", True, True)


def test_compressed_modules_count_for_the_contract(
    tree: Path, image: Callable[[Path], Path]
) -> None:
    assert inspect_release(image(modular(tree))).kernel_version == FAKE_KERNEL


def test_no_kernel_is_refused(tree: Path, image: Callable[[Path], Path]) -> None:
    (tree / "boot" / f"vmlinuz-{FAKE_KERNEL}").unlink()
    assert "no kernel" in refused(image(tree))


def test_two_kernels_need_a_vmlinuz_symlink_choosing_one(
    tree: Path, image: Callable[[Path], Path], tmp_path: Path
) -> None:
    (tree / "boot" / "vmlinuz-6.2.0-other").write_bytes(b"kernel")
    message = refused(image(tree))
    assert "2 kernels" in message
    assert "/vmlinuz symlink" in message
    (tree / "vmlinuz").symlink_to(f"boot/vmlinuz-{FAKE_KERNEL}")
    facts = inspect_release(squash(tree, tmp_path / "chosen.squashfs"))
    assert facts.kernel_version == FAKE_KERNEL


def test_a_kernel_without_its_modules_is_refused(tree: Path, image: Callable[[Path], Path]) -> None:
    (tree / "boot" / f"vmlinuz-{FAKE_KERNEL}").rename(tree / "boot" / "vmlinuz-6.9.9-nomods")
    message = refused(image(tree))
    assert "kernel 6.9.9-nomods has no modules" in message


def test_no_disk_controller_driver_is_refused(tree: Path, image: Callable[[Path], Path]) -> None:
    builtin = tree / MODS / "modules.builtin"
    builtin.write_text(builtin.read_text().replace("kernel/drivers/block/virtio_blk.ko\n", ""))
    message = refused(image(tree))
    assert "no disk controller driver" in message
    assert "virtio_blk" in message


def test_a_kernel_without_overlay_support_is_refused(
    tree: Path, image: Callable[[Path], Path]
) -> None:
    builtin = tree / MODS / "modules.builtin"
    builtin.write_text(builtin.read_text().replace("kernel/fs/overlayfs/overlay.ko\n", ""))
    assert "lacks overlay support" in refused(image(tree))


def test_no_init_is_refused(tree: Path, image: Callable[[Path], Path]) -> None:
    (tree / "sbin" / "init").unlink()
    assert "no init" in refused(image(tree))


def test_not_a_squashfs_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.squashfs"
    junk.write_bytes(b"\0" * 8192)
    assert "unsquashfs cannot read it" in refused(junk)


def _members(initrd: Path) -> set[str]:
    out = subprocess.run(
        ["cpio", "-it", "--quiet"],
        input=gzip.decompress(initrd.read_bytes()),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return set(out.stdout.decode().split())


def test_the_boot_files_are_the_same_bytes_for_the_same_image(
    tree: Path, image: Callable[[Path], Path], tmp_path: Path
) -> None:
    img = image(modular(tree))
    one = build_release_boot(img, tmp_path / "one")
    two = build_release_boot(img, tmp_path / "two")
    for a, b in (
        (one.vmlinuz, two.vmlinuz),
        (one.initrd, two.initrd),
        (one.manifest, two.manifest),
    ):
        assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "initrd.img",
        "release-boot.json",
        "vmlinuz",
    ]
    assert one.vmlinuz.read_bytes() == b"not a kernel\n"  # the release's own kernel
    manifest = json.loads(one.manifest.read_text())
    assert manifest["facts"] == json.loads(one.facts.to_json())
    assert manifest["modules"] == ["virtio_blk", "squashfs", "overlay", "ext4"]


def test_the_initramfs_ships_decompressed_modules_and_a_rewritten_modules_dep(
    tree: Path, image: Callable[[Path], Path], tmp_path: Path
) -> None:
    boot = build_release_boot(image(modular(tree)), tmp_path / "boot")
    members = _members(boot.initrd)
    assert {"init", "boot-report.sh", "common.sh", "bin/busybox", "bin/switch_root"} <= members
    assert "grubenv.sh" in members  # the loader's helper: the reporter marks boots good
    assert f"{MODS}/kernel/fs/ext4/ext4.ko" in members
    assert f"{MODS}/kernel/fs/jbd2/jbd2.ko" in members  # ext4 needs it
    assert not any(m.endswith(".xz") for m in members)
    assert f"{MODS}/kernel/drivers/net/dummy.ko" not in members
    work = tmp_path / "x"
    work.mkdir()
    subprocess.run(
        ["cpio", "-id", "--quiet"],
        input=gzip.decompress(boot.initrd.read_bytes()),
        cwd=work,
        check=True,
        timeout=60,
    )
    assert (work / MODS / "kernel/fs/ext4/ext4.ko").read_bytes() == (
        b"module kernel/fs/ext4/ext4.ko.xz"
    )
    dep = (work / MODS / "modules.dep").read_text()
    assert "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\n" in dep
    assert ".xz" not in dep
    conf = (work / "etc" / "release-boot.conf").read_text()
    assert conf == "INIT=/sbin/init\nINIT_KIND=other\nMODULES='virtio_blk squashfs overlay ext4'\n"


def test_a_grubenv_helper_is_shipped_when_given(
    tree: Path, image: Callable[[Path], Path], tmp_path: Path
) -> None:
    helper = tmp_path / "grubenv.sh"
    helper.write_text("genv_read() { :; }\n")
    boot = build_release_boot(image(tree), tmp_path / "boot", grubenv=helper)
    assert "grubenv.sh" in _members(boot.initrd)
    assert json.loads(boot.manifest.read_text())["grubenv"] is True
