"""Installed disks boot themselves: GRUB from their own disk picks slot A or B with
boot counting, on SeaBIOS and on OVMF (QEMU TCG, no network device at all).

Each test assembles a layout-v2 disk on the host (``loader_lab``: sfdisk, our
mbr.bin/core.img/esp.img, the agent's mke2fs, debugfs), boots it, and reads the
GRUB environment block back from outside. The slots' initramfs print the slot the
kernel was given and power off; a broken one exits, the kernel panics and reboots.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from media.grubenv import BLOCK_SIZE, SIGNATURE
from media.loader import Loader, build_loader
from tests.e2e.loader_lab import assemble_disk, boot, env_at, genv_sh, read_env, slot_initrd
from tests.support.vm import FIRMWARES, require_qemu

pytestmark = pytest.mark.vm


@pytest.fixture(scope="session")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Loader, Path]:
    """The loader artefacts and Debian's kernel (the boot environment's), built once."""
    require_qemu()
    from media.initrd import build_boot_env

    root = tmp_path_factory.mktemp("loader-parts")
    return build_loader(root / "loader"), build_boot_env(root / "bootenv").vmlinuz


def _disk(tmp_path: Path, parts: tuple[Loader, Path], *, broken_b: bool = False) -> Path:
    loader, kernel = parts
    disk = tmp_path / "disk.raw"
    assemble_disk(disk, loader, kernel, {"A": slot_initrd(), "B": slot_initrd(broken=broken_b)})
    return disk


def activate_b_as_userspace_does(disk: Path, loader: Loader) -> None:
    """What the agent does after writing slot B: one sector, through grubenv.sh."""
    script = 'genv_read "$DEV" "$OFF" && genv_activate B && genv_write "$DEV" "$OFF"'
    genv_sh(disk, env_at(loader), script)


@pytest.mark.parametrize("firmware", FIRMWARES)
def test_a_fresh_disk_boots_slot_a_from_its_own_loader_and_counts_one_try(
    tmp_path: Path, parts: tuple[Loader, Path], firmware: str
) -> None:
    loader, _ = parts
    disk = _disk(tmp_path, parts)
    log = boot(disk, firmware, tmp_path, "fresh")
    assert "provisioner: booting slot A (tries left 2)" in log, log[-3000:]
    assert "SLOT=A" in log, log[-3000:]
    # GRUB found its own disk: OVMF booted the second one (hd1), SeaBIOS made it hd0;
    # every word reached the kernel as one word, unchanged (the quoted one in GRUB's quotes)
    disk_name = "hd0" if firmware == "bios" else "hd1"
    assert (
        f"CMDLINE=BOOT_IMAGE=({disk_name},gpt6)/provisioner/boot/A/vmlinuz prov.slot=A "
        "console=ttyS0,115200 loglevel=3 no_timer_check "
        'prov.test=a;b$c|d&e{f} "prov.note=x y" panic=10'
    ) in log
    env = read_env(disk, loader)
    assert env == {"ORDER": "A B", "A_OK": "1", "B_OK": "1", "A_LEFT": "2", "B_LEFT": "3",
                   "TRIES": "3"}  # fmt: skip


@pytest.mark.parametrize("firmware", FIRMWARES)
def test_activating_slot_b_with_the_shell_library_boots_slot_b(
    tmp_path: Path, parts: tuple[Loader, Path], firmware: str
) -> None:
    loader, _ = parts
    disk = _disk(tmp_path, parts)
    activate_b_as_userspace_does(disk, loader)
    log = boot(disk, firmware, tmp_path, "activated")
    assert "provisioner: booting slot B (tries left 2)" in log, log[-3000:]
    assert "SLOT=B" in log
    assert "SLOT=A" not in log
    assert read_env(disk, loader) == {"ORDER": "B A", "A_OK": "1", "B_OK": "1", "A_LEFT": "3",
                                      "B_LEFT": "2", "TRIES": "3"}  # fmt: skip


@pytest.mark.parametrize("firmware", FIRMWARES)
def test_a_slot_that_fails_its_tries_is_given_up_and_the_other_boots_by_itself(
    tmp_path: Path, parts: tuple[Loader, Path], firmware: str
) -> None:
    """B is activated but its system dies (kernel panic, panic=10 reboots): GRUB tries it
    TRIES=3 times, then marks it failed and boots A, all in one unattended VM run."""
    loader, _ = parts
    disk = _disk(tmp_path, parts, broken_b=True)
    activate_b_as_userspace_does(disk, loader)
    log = boot(disk, firmware, tmp_path, "fallback", reboots=True, timeout=300)
    tries = [f"provisioner: booting slot B (tries left {n})" for n in (2, 1, 0)]
    positions = [log.find(t) for t in tries]
    assert -1 not in positions, log[-4000:]
    assert positions == sorted(positions), log[-4000:]
    assert log.count("BROKEN=B") == 3, log[-4000:]
    fell_back = log.find("provisioner: slot B failed 3 tries, falling back to A")
    assert fell_back > positions[-1], log[-4000:]
    assert log.find("provisioner: booting slot A (tries left 2)") > fell_back
    assert log.rstrip().count("SLOT=A") == 1
    assert read_env(disk, loader) == {"ORDER": "B A", "A_OK": "1", "B_OK": "0", "A_LEFT": "2",
                                      "B_LEFT": "0", "TRIES": "3"}  # fmt: skip


@pytest.mark.parametrize("firmware", FIRMWARES)
def test_a_garbage_environment_block_still_boots_a_slot(
    tmp_path: Path, parts: tuple[Loader, Path], firmware: str
) -> None:
    loader, _ = parts
    disk = _disk(tmp_path, parts)
    garbage = bytes(range(256)) * (BLOCK_SIZE // 256)
    with disk.open("r+b") as f:
        f.seek(env_at(loader))
        f.write(garbage)
    log = boot(disk, firmware, tmp_path, "garbage")
    assert "provisioner: booting slot A (tries left 2)" in log, log[-3000:]
    assert "SLOT=A" in log
    # GRUB cannot save into a block that is not one, and says so; the block is as it was
    assert "this boot is not counted" in log
    with disk.open("rb") as f:
        f.seek(env_at(loader))
        block = f.read(BLOCK_SIZE)
    assert block == garbage
    assert not block.startswith(SIGNATURE)
