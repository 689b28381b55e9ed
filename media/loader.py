"""Build the on-disk boot loader of an installed box from Debian's GRUB packages.

:func:`build_loader` writes four files into ``dest`` (atomically: temp file, fsync,
rename; the stamp last, so an interrupted build is redone):

==============  ==================================================================
``mbr.bin``     440 bytes of boot code for disk byte 0 (GRUB's ``boot.img``, pointed
                at ``core.img`` in partition 1 at LBA 2048); the protective MBR's
                disk signature and partition table (bytes 440-511) stay the disk's
``core.img``    GRUB's i386-pc core image for partition 1 (``prov-bios``), its
                blocklist patched for LBA 2048, every module built in, prefix
                ``(,gpt2)/grub``: the ESP of the disk the BIOS booted
``esp.img``     a 32 MiB FAT image for partition 2 (``prov-esp``):
                ``/EFI/BOOT/BOOTX64.EFI`` (GRUB x86_64-efi, every module built in,
                prefix ``/grub`` on its own partition: the UEFI fallback path, no
                NVRAM entry needed), ``/grub/grub.cfg`` (:mod:`media.grubcfg`) and
                ``/grub/grubenv`` (:mod:`media.grubenv`, the defaults)
``local.efi``   served, never written to a disk: GRUB x86_64-efi with
                :func:`media.grubcfg.local_grub_cfg` built in, which chainloads the
                ``BOOTX64.EFI`` of the ESP labelled ``PROVESP``; iPXE on UEFI chains
                it when a box's action is ``local`` (pxelinux/render.py)
``loader.json`` ``env_offset`` (byte offset of grubenv in esp.img, 512-aligned), the
                GRUB package versions, each file's sha256, the inputs' digest
==============  ==================================================================

The blocklist patches are what ``grub-bios-setup`` does when it embeds a core image
in a GPT BIOS boot partition without Reed-Solomon codes (GRUB's ``util/setup.c``;
offsets from ``include/grub/i386/pc/boot.h``), computed here so no disk, loop device
or root is needed; the VM tests (``tests/e2e/test_loader_boot.py``) boot the result
on SeaBIOS and OVMF. The build is deterministic: the same packages give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from media import grubcfg, grubenv
from media.initrd import BuildError, _run
from media.initrd import atomic_write as _atomic_write
from provisioner import bootnames

BUILDER_VERSION = 2
SECTOR = 512
#: Layout v2: partition 1 (prov-bios, 1 MiB) and 2 (prov-esp, 32 MiB).
BIOS_BOOT_LBA = 2048
BIOS_BOOT_SECTORS = 2048
ESP_LBA = 4096
ESP_SIZE = 32 * 1024 * 1024
PACKAGES = ("grub-pc-bin", "grub-efi-amd64-bin", "mtools")
PC_DIR = Path("/usr/lib/grub/i386-pc")
EFI_DIR = Path("/usr/lib/grub/x86_64-efi")
#: Built into both images: no modules directory on the disk.
COMMON_MODULES = (
    "part_gpt",
    "fat",
    "ext2",
    "normal",
    "linux",
    "loadenv",
    "test",
    "echo",
    "regexp",
    "configfile",
    "serial",
    "terminal",
    "sleep",
    "reboot",
    "halt",
    "true",
    "search",
    "ls",
    "cat",
)
PC_MODULES = (*COMMON_MODULES, "biosdisk")
EFI_MODULES = (*COMMON_MODULES, "efi_gop", "efi_uga")
PC_PREFIX = f"(,gpt{grubcfg.ESP_PARTITION})/grub"
EFI_PREFIX = "/grub"
LOCAL_MODULES = ("part_gpt", "fat", "search", "chain", "echo", "serial", "terminal", "minicmd")
#: the network's local loader, in the loader directory (not an ARTEFACT: no disk gets it)
LOCAL_EFI = bootnames.LOCAL_EFI_PATH.rsplit("/", 1)[1]
#: boot.img (include/grub/i386/pc/boot.h) and the diskboot.img blocklist at the end
#: of core.img's first sector: u64 start, u16 sectors, u16 segment.
BPB_START, BPB_END = 0x03, 0x5A
KERNEL_SECTOR = 0x5C
BOOT_DRIVE = 0x64
DRIVE_CHECK = 0x66
MBR_CODE_SIZE = 440
BLOCKLIST = SECTOR - 12
KERNEL_SEGMENT = 0x820  # 0x800 + one sector: where diskboot loads the rest of core.img
#: grub-bios-setup's bound on an embedded core image (0x78000 - 0x8200, in sectors).
MAX_CORE_SECTORS = (0x78000 - 0x8200) // SECTOR
FAT_SERIAL = "50524F56"  # "PROV": a fixed volume serial keeps esp.img reproducible
FILE_TIME = 946684800  # 2000-01-01: every file's FAT timestamp


#: where the server keeps the artefacts: DATA_DIR/boot/<LOADER_DIR>/ (served as
#: /boot/files/loader/... like the rest of the boot tree)
LOADER_DIR = bootnames.LOADER_DIR
#: manifest key -> artefact (the agent's LOADER_<KEY>_URL/_SIZE/_SHA256)
ARTEFACTS = {"MBR": "mbr.bin", "CORE": "core.img", "ESP": "esp.img"}


@dataclass(frozen=True)
class Artefact:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class LoaderRecord:
    """What a built loader directory holds, from its loader.json (no hashing)."""

    env_offset: int
    artefacts: dict[str, Artefact]  # keyed like ARTEFACTS


def read_loader(dest: Path) -> LoaderRecord | None:
    """The loader built in ``dest``, or None when there is none (or it is incomplete)."""
    try:
        stamp = json.loads((dest / "loader.json").read_text())
        arts = {key: Artefact(name, (dest / name).stat().st_size, str(stamp["sha256"][name]))
                for key, name in ARTEFACTS.items()}  # fmt: skip
        return LoaderRecord(int(stamp["env_offset"]), arts)
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Loader:
    mbr: Path
    core: Path
    esp: Path
    stamp: Path
    env_offset: int
    versions: dict[str, str]
    built: bool  # False: an up-to-date build was already there


def package_versions() -> dict[str, str]:
    out = _run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *PACKAGES])
    found = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    missing = [p for p in PACKAGES if not found.get(p)]
    if missing:
        raise BuildError(f"{', '.join(missing)} not installed (scripts/packages-run.txt)")
    return {p: found[p] for p in PACKAGES}


def _inputs_digest(versions: dict[str, str]) -> str:
    h = hashlib.sha256(f"builder {BUILDER_VERSION}\n{json.dumps(versions)}\n".encode())
    for mod in (Path(__file__), Path(grubcfg.__file__), Path(grubenv.__file__)):
        h.update(mod.name.encode() + b"\0" + mod.read_bytes())
    return h.hexdigest()


def patch_mbr(boot_img: bytes) -> bytes:
    """GRUB's boot.img as grub-bios-setup leaves it on a fresh GPT disk, first 440 bytes."""
    if len(boot_img) != SECTOR or boot_img[DRIVE_CHECK] != 0xEB:
        raise BuildError("boot.img is not the GRUB 2 boot sector this builder knows")
    mbr = bytearray(boot_img[:MBR_CODE_SIZE])
    mbr[BPB_START:BPB_END] = bytes(BPB_END - BPB_START)  # a fresh disk's (zero) BPB
    struct.pack_into("<Q", mbr, KERNEL_SECTOR, BIOS_BOOT_LBA)
    mbr[BOOT_DRIVE] = 0xFF  # the drive the BIOS booted (DL)
    mbr[DRIVE_CHECK : DRIVE_CHECK + 2] = b"\x90\x90"  # a hard disk: trust no BIOS's DL test
    return bytes(mbr)


def patch_core(core_img: bytes) -> bytes:
    """core.img with its blocklist pointing at the sectors after LBA 2048, sector padded."""
    sectors = -(-len(core_img) // SECTOR)
    _start, count, segment = struct.unpack_from("<QHH", core_img, BLOCKLIST)
    terminator = struct.unpack_from("<QHH", core_img, BLOCKLIST - 12)
    if (count, segment) != (sectors - 1, KERNEL_SEGMENT) or terminator != (0, 0, 0):
        raise BuildError("core.img's blocklist is not the one grub-mkimage writes")
    if sectors > min(MAX_CORE_SECTORS, BIOS_BOOT_SECTORS):
        raise BuildError(f"core.img has {sectors} sectors; at most {MAX_CORE_SECTORS} fit")
    core = bytearray(core_img + bytes(sectors * SECTOR - len(core_img)))
    struct.pack_into("<QHH", core, BLOCKLIST, BIOS_BOOT_LBA + 1, sectors - 1, KERNEL_SEGMENT)
    return bytes(core)


def env_offset(esp: bytes, env: bytes) -> int:
    """Where grubenv's bytes start in the FAT image: the one 512-aligned copy."""
    found = [
        off for off in range(0, len(esp) - len(env) + 1, SECTOR) if esp[off : off + len(env)] == env
    ]
    if len(found) != 1:
        raise BuildError(f"grubenv found {len(found)} times in esp.img, expected once")
    return found[0]


def _mkimage(
    fmt: str,
    moddir: Path,
    prefix: str,
    modules: tuple[str, ...],
    out: Path,
    *,
    config: Path | None = None,
) -> bytes:
    embed = ["-c", str(config)] if config is not None else []
    _run(
        ["grub-mkimage", "-O", fmt, "-d", str(moddir), "-p", prefix, *embed, "-o", str(out),
         *modules]
    )  # fmt: skip
    return out.read_bytes()


def _esp_image(work: Path, efi: bytes) -> tuple[bytes, int]:
    tree = work / "esp"
    (tree / "EFI" / "BOOT").mkdir(parents=True)
    (tree / "grub").mkdir()
    (tree / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(efi)
    (tree / "grub" / "grub.cfg").write_text(grubcfg.loader_grub_cfg())
    env = grubenv.pack(grubenv.defaults())
    (tree / "grub" / "grubenv").write_bytes(env)
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (FILE_TIME, FILE_TIME))
    image = work / "esp.img"
    with image.open("wb") as f:
        f.truncate(ESP_SIZE)
    # FAT16, 4 KiB clusters (grubenv in one cluster), hidden sectors = the partition's LBA
    _run(
        [
            "mformat",
            "-i",
            str(image),
            "-N",
            FAT_SERIAL,
            "-v",
            grubcfg.ESP_LABEL,
            "-H",
            str(ESP_LBA),
            "-c",
            "8",
            "-t",
            "32",
            "-h",
            "64",
            "-s",
            "32",
            "::",
        ],
        env={"SOURCE_DATE_EPOCH": str(FILE_TIME)},  # the volume label's time
    )
    _run(
        ["mcopy", "-i", str(image), "-s", "-m", "-Q", str(tree / "EFI"), str(tree / "grub"), "::/"]
    )
    data = image.read_bytes()
    return data, env_offset(data, env)


def build_loader(dest: Path, *, force: bool = False) -> Loader:
    """Build (or reuse) mbr.bin, core.img, esp.img and loader.json in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    versions = package_versions()
    digest = _inputs_digest(versions)
    paths = {name: dest / name for name in ("mbr.bin", "core.img", "esp.img", LOCAL_EFI)}
    stamp_path = dest / "loader.json"

    def loader(stamp: dict[str, object], built: bool) -> Loader:
        offset = stamp["env_offset"]
        assert isinstance(offset, int)
        return Loader(
            paths["mbr.bin"],
            paths["core.img"],
            paths["esp.img"],
            stamp_path,
            offset,
            versions,
            built,
        )

    if not force and stamp_path.exists() and all(p.exists() for p in paths.values()):
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("inputs") == digest:
            return loader(stamp, built=False)
    work = Path(tempfile.mkdtemp(prefix=".loader-build-", dir=dest))
    try:
        core = patch_core(_mkimage("i386-pc", PC_DIR, PC_PREFIX, PC_MODULES, work / "core.img"))
        mbr = patch_mbr((PC_DIR / "boot.img").read_bytes())
        efi = _mkimage("x86_64-efi", EFI_DIR, EFI_PREFIX, EFI_MODULES, work / "bootx64.efi")
        esp, offset = _esp_image(work, efi)
        (work / "local.cfg").write_text(grubcfg.local_grub_cfg())
        local = _mkimage(
            "x86_64-efi", EFI_DIR, "/", LOCAL_MODULES, work / LOCAL_EFI, config=work / "local.cfg"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    blobs = {"mbr.bin": mbr, "core.img": core, "esp.img": esp, LOCAL_EFI: local}
    for name, blob in blobs.items():
        _atomic_write(paths[name], blob)
    stamp = {
        "env_offset": offset,
        "grub_versions": versions,
        "sha256": {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()},
        "inputs": digest,
        "builder": BUILDER_VERSION,
    }
    _atomic_write(stamp_path, json.dumps(stamp, indent=2).encode())
    return loader(stamp, built=True)
