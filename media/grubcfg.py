"""GRUB scripts of an installed disk: the loader's ``grub.cfg`` and each slot's ``boot.cfg``.

Pure (values in, text out). ``grub.cfg`` lives on the ESP (``/grub/grub.cfg``,
built into ``esp.img`` by :mod:`media.loader`); it picks system slot A or B from the
environment block next to it (:mod:`media.grubenv`) with boot counting, then
``source``\\ s that slot's ``boot.cfg`` from the data partition::

    prov-data:/provisioner/boot/<S>/{vmlinuz,initrd.img,boot.cfg}

``boot.cfg`` (:func:`slot_boot_cfg`) holds the ``linux`` and ``initrd`` lines; GRUB
sets ``bootdir`` (that directory, device included) and ``slot`` before sourcing it.

Counting, per boot (docs/installer.md, "Boot loader on the disk"): the first slot
of ORDER with S_OK=1, tries left and a boot.cfg is booted after S_LEFT goes down by
one and is saved; a slot found with S_LEFT=0 failed all its tries: S_OK=0 is saved
and the next slot is tried. When no slot qualifies, the first slot of ORDER that has
a boot.cfg boots uncounted, so a disk with something bootable never stops at a GRUB
prompt. Userspace confirms a good boot by setting S_LEFT back to TRIES.
"""

from __future__ import annotations

from collections.abc import Sequence

from media.grubenv import DEFAULT_TRIES, SLOTS, VARIABLES
from provisioner.errors import ValidationError

#: Partition numbers of layout v2 that the loader depends on.
ESP_PARTITION = 2
DATA_PARTITION = 6
BOOT_DIR = "/provisioner/boot"
#: The kernel reboots this many seconds after a panic (a failed slot is retried).
PANIC_SECONDS = 10
#: Characters GRUB's ``linux`` command passes to the kernel with a backslash the kernel
#: never removes (so the value would change, and ``"`` toggles the kernel's quoting).
_UNPASSABLE = {'"': "double quote", "'": "single quote", "\\": "backslash"}


class BootCfgError(ValidationError, ValueError):
    """A kernel word that cannot reach the kernel unchanged through GRUB."""

    def __init__(self, message: str) -> None:
        super().__init__("boot.cfg", message)


def grub_word(word: str) -> str:
    """``word`` as one GRUB word that reaches the kernel as exactly one word, unchanged.

    Single quotes make every GRUB metacharacter (``$ ; { } | & < >`` and spaces)
    literal. GRUB's ``linux`` wraps a word with a space in double quotes, which the
    kernel takes as one word. Refused: an empty word, anything outside printable
    ASCII (a newline would end the GRUB command; tabs and some UTF-8 bytes split
    kernel words), and the characters GRUB escapes with a backslash the kernel keeps.
    """
    if not word:
        raise BootCfgError("an empty kernel word")
    for ch in word:
        if not " " <= ch <= "~":
            raise BootCfgError(
                f"kernel word {word!r}: {ch!r} cannot be passed (printable ASCII only: "
                "a newline would end the GRUB command, tabs and non-ASCII bytes split "
                "kernel words)"
            )
        if ch in _UNPASSABLE:
            raise BootCfgError(
                f"kernel word {word!r}: a {_UNPASSABLE[ch]} cannot be passed: GRUB's "
                "linux command escapes it with a backslash that the kernel keeps"
            )
    return f"'{word}'"


def slot_boot_cfg(slot: str, words: Sequence[str]) -> str:
    """``boot.cfg`` for ``slot``: its kernel with ``prov.slot=<S> <words...> panic=10``.

    ``panic=10`` comes last, so a panicking slot always reboots into the next try."""
    if slot not in SLOTS:
        raise BootCfgError(f"slot must be A or B, not {slot!r}")
    if isinstance(words, str):
        raise BootCfgError("words must be a sequence of words, not one string")
    args = " ".join([f"prov.slot={slot}", *map(grub_word, words), f"panic={PANIC_SECONDS}"])
    return f"linux $bootdir/vmlinuz {args}\ninitrd $bootdir/initrd.img\n"


def _slot_functions(slot: str, other: str) -> str:
    """``try_S`` (counted) and ``last_S`` (uncounted) for one slot."""
    cfg = f"$data{BOOT_DIR}/{slot}/boot.cfg"
    decrement = "\n".join(
        f'            {"if" if n == 9 else "elif"} [ "x${slot}_LEFT" = x{n} ]; '
        f"then set {slot}_LEFT={n - 1}"
        for n in range(9, 0, -1)
    )
    return f"""
function boot_{slot} {{
    set slot={slot}
    set bootdir="$data{BOOT_DIR}/{slot}"
    source "$bootdir/boot.cfg"
    boot
    echo "provisioner: slot {slot} did not boot"
}}

function try_{slot} {{
    if [ "x${slot}_OK" = x1 ]; then
        if [ "x${slot}_LEFT" = x0 ]; then
            set {slot}_OK=0
            save_env --file "$envfile" {slot}_OK
            echo "provisioner: slot {slot} failed $TRIES tries, falling back to {other}"
        elif [ -f "{cfg}" ]; then
{decrement}
            fi
            if save_env --file "$envfile" {" ".join(VARIABLES)}; then true; else
                echo "provisioner: cannot save $envfile: this boot is not counted"
            fi
            echo "provisioner: booting slot {slot} (tries left ${slot}_LEFT)"
            boot_{slot}
        else
            echo "provisioner: slot {slot} has no {cfg}"
        fi
    fi
}}

function last_{slot} {{
    if [ -f "{cfg}" ]; then
        echo "provisioner: no slot has tries left: booting slot {slot} uncounted"
        boot_{slot}
    fi
}}
"""


#: The FAT volume label of every installed ESP: what the network's local loader finds.
ESP_LABEL = "PROVESP"
#: Where the disk's own UEFI loader lives on that ESP (the removable-media path).
ESP_EFI_PATH = "/EFI/BOOT/BOOTX64.EFI"


def local_grub_cfg() -> str:
    """The config built into ``local.efi``: a UEFI box told ``local`` over the network
    (HTTP boot, iPXE) boots its installed disk's loader from here, by the ESP's label,
    instead of returning to firmware that may not go on to the disk (OVMF: iPXE's
    exit after HTTP boot hangs until the boot manager's 5-minute watchdog resets).

    GRUB runs an embedded config with its rescue parser: one plain command per line
    (variables expand; no comments, no ``if``). ``chainloader`` takes the loaded
    image's device from ``root`` (not from the file's device), so the search sets
    ``root``; the disk's GRUB then finds its ``/grub`` there. Without such an ESP,
    ``root`` names no device, ``chainloader`` and ``boot`` fail, and ``exit`` returns
    to the firmware (OVMF then shows its boot manager menu)."""
    return f"""serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
echo provisioner: local boot: the loader of the ESP labelled {ESP_LABEL}
set root=no-esp-labelled-{ESP_LABEL}
search --no-floppy --label {ESP_LABEL} --set=root
chainloader {ESP_EFI_PATH}
boot
echo provisioner: local boot: no ESP labelled {ESP_LABEL}: back to the firmware
exit 1
"""


def loader_grub_cfg() -> str:
    """The ESP's ``/grub/grub.cfg`` (same text for BIOS and UEFI)."""
    validate = "\n".join(
        f"if regexp '^x[01]$' \"x${s}_OK\"; then true; else set {s}_OK=1; fi\n"
        f"if regexp '^x[0-9]$' \"x${s}_LEFT\"; then true; else set {s}_LEFT=$TRIES; fi"
        for s in SLOTS
    )
    return (
        f"""# Provisioner boot loader (written by media/loader.py from media/grubcfg.py):
# boots system slot A or B with boot counting in /grub/grubenv next to this file.
# See docs/installer.md, "Boot loader on the disk".
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console

# The disk GRUB came from: BIOS and UEFI both set root to its ESP, (hdN,gpt{ESP_PARTITION}).
regexp --set=1:disk '^([^,]+),' "$root"
set data="($disk,gpt{DATA_PARTITION})"
set envfile="$prefix/grubenv"

# Only these variables come from the block; a missing or malformed one gets its default.
load_env --file "$envfile" {" ".join(VARIABLES)}
if regexp '^x[1-9]$' "x$TRIES"; then true; else set TRIES={DEFAULT_TRIES}; fi
if [ "x$ORDER" = "xB A" ]; then true; else set ORDER="A B"; fi
{validate}
"""
        + _slot_functions("A", "B")
        + _slot_functions("B", "A")
        + """
if [ "x$ORDER" = "xB A" ]; then try_B; try_A; else try_A; try_B; fi
if [ "x$ORDER" = "xB A" ]; then last_B; last_A; else last_A; last_B; fi
echo "provisioner: nothing to boot on ($disk): no slot has a boot.cfg on $data"
"""
    )
