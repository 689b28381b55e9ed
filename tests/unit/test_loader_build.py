"""The loader artefacts (media/loader.py), built from Debian's GRUB packages: their
bytes, determinism and stamp. That they boot: tests/e2e/test_loader_boot.py."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from media import grubenv, loader
from media.grubcfg import loader_grub_cfg, slot_boot_cfg
from media.loader import Loader, build_loader
from tests.e2e.loader_lab import AGENT_MKE2FS, NO_MKE2FS_CONF, make_data_fs

ARTEFACTS = ("mbr.bin", "core.img", "esp.img", "loader.json")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Loader:
    return build_loader(tmp_path_factory.mktemp("loader"))


def mtype(esp: Path, path: str) -> bytes:
    return subprocess.run(
        ["mtype", "-i", str(esp), f"::{path}"], capture_output=True, timeout=30, check=True
    ).stdout


def test_mbr_bin_is_grubs_boot_code_pointed_at_core_img_at_lba_2048(built: Loader) -> None:
    mbr = built.mbr.read_bytes()
    boot_img = (loader.PC_DIR / "boot.img").read_bytes()
    assert len(mbr) == 440  # the disk signature and partition table are not ours
    assert struct.unpack_from("<Q", mbr, 0x5C) == (2048,)
    assert mbr[0x64] == 0xFF  # boot from the drive the BIOS passes in DL
    assert mbr[0x66:0x68] == b"\x90\x90"  # hard disk: the floppy check is patched out
    assert mbr[0x03:0x5A] == bytes(0x57)
    assert mbr[:3] == boot_img[:3]
    assert mbr[0x68:] == boot_img[0x68:440]


def test_core_img_loads_its_own_sectors_from_lba_2049_and_fits_partition_1(
    built: Loader,
) -> None:
    core = built.core.read_bytes()
    sectors = len(core) // 512
    assert len(core) % 512 == 0
    assert sectors <= loader.MAX_CORE_SECTORS
    assert struct.unpack_from("<QHH", core, 500) == (2049, sectors - 1, 0x820)
    assert struct.unpack_from("<QHH", core, 488) == (0, 0, 0)  # terminator


def test_esp_img_holds_the_uefi_fallback_loader_grub_cfg_and_the_default_environment(
    built: Loader,
) -> None:
    esp = built.esp.read_bytes()
    assert len(esp) == 32 * 1024 * 1024
    assert mtype(built.esp, "/EFI/BOOT/BOOTX64.EFI")[:2] == b"MZ"
    assert mtype(built.esp, "/grub/grub.cfg").decode() == loader_grub_cfg()
    env = grubenv.pack(grubenv.defaults())
    assert mtype(built.esp, "/grub/grubenv") == env
    assert built.env_offset % 512 == 0
    assert esp[built.env_offset : built.env_offset + 1024] == env


def test_loader_json_records_the_offset_versions_and_each_files_sha256(built: Loader) -> None:
    stamp = json.loads(built.stamp.read_text())
    assert stamp["env_offset"] == built.env_offset
    assert set(stamp["grub_versions"]) == {"grub-pc-bin", "grub-efi-amd64-bin", "mtools"}
    assert stamp["grub_versions"]["grub-pc-bin"].startswith("2.06")
    for name in ("mbr.bin", "core.img", "esp.img"):
        digest = hashlib.sha256((built.stamp.parent / name).read_bytes()).hexdigest()
        assert stamp["sha256"][name] == digest


def test_a_second_build_rebuilds_nothing_and_another_build_gives_the_same_bytes(
    built: Loader, tmp_path: Path
) -> None:
    dest = built.stamp.parent
    before = {n: (dest / n).stat().st_mtime_ns for n in ARTEFACTS}
    again = build_loader(dest)
    assert not again.built
    assert again == built.__class__(**{**vars(built), "built": False})
    assert {n: (dest / n).stat().st_mtime_ns for n in ARTEFACTS} == before
    elsewhere = build_loader(tmp_path / "other")
    assert elsewhere.built
    for name in ARTEFACTS:
        assert (tmp_path / "other" / name).read_bytes() == (dest / name).read_bytes(), name
    assert not list((tmp_path / "other").glob(".*"))  # no temp files left behind


def test_a_changed_input_or_a_missing_file_rebuilds_and_force_always_does(tmp_path: Path) -> None:
    first = build_loader(tmp_path)
    stamp = json.loads(first.stamp.read_text())
    first.stamp.write_text(json.dumps({**stamp, "inputs": "an older builder"}))
    assert build_loader(tmp_path).built
    first.core.unlink()
    assert build_loader(tmp_path).built
    assert first.core.exists()
    assert build_loader(tmp_path, force=True).built
    assert not build_loader(tmp_path).built


@pytest.mark.parametrize("mib", [64, 600])  # mke2fs's "small" (1 KiB blocks) and default types
def test_grub_reads_the_data_partition_the_agents_mke2fs_makes_without_a_config(
    tmp_path: Path, mib: int
) -> None:
    """The agent's initramfs has no /etc/mke2fs.conf: mke2fs takes its built-in profile
    (metadata_csum, 64bit, extents, flex_bg...). grub-fstest runs GRUB's own ext2 driver."""
    cfg = slot_boot_cfg("A", ["quiet"]).encode()
    image = tmp_path / "data.img"
    make_data_fs(image, mib * 1024 * 1024, {"/provisioner/boot/A/boot.cfg": cfg})
    features = subprocess.run(
        ["dumpe2fs", "-h", str(image)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "metadata_csum" in features
    assert "64bit" in features
    read = subprocess.run(
        ["grub-fstest", str(image), "cat", "/provisioner/boot/A/boot.cfg"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    assert read == cfg


def test_the_agents_mke2fs_command_is_the_one_the_disk_tests_use() -> None:
    agent = (Path(loader.__file__).parent / "agent" / "agent.sh").read_text()
    assert " ".join(AGENT_MKE2FS[1:]) in agent
    assert "MKE2FS_CONFIG" in NO_MKE2FS_CONF
    assert not os.path.exists(NO_MKE2FS_CONF["MKE2FS_CONFIG"])
