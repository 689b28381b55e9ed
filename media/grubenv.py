"""The GRUB environment block of an installed disk: which system slot boots next.

Pure (bytes in, values out). The block is GRUB's own format, 1024 bytes::

    # GRUB Environment Block\\n
    ORDER=A B\\n
    A_OK=1\\n ...
    ########...   ('#' up to byte 1024)

GRUB (``load_env``/``save_env`` in the ESP's ``/grub/grub.cfg``), this module,
``grub-editenv`` and the shell library ``media/agent/grubenv.sh`` all read and
write it. Every assignment lies in the first 512 bytes, so a userspace update is
one sector written at once; the second sector is padding.

==========  ==========================================================
variable    meaning
==========  ==========================================================
ORDER       ``A B`` or ``B A``: the slot tried first, then the other
A_OK, B_OK  ``1``: the slot may be tried; ``0``: it failed its tries
A_LEFT ...  tries left (one digit); GRUB takes one before each boot
TRIES       configured tries (one digit, 1-9, default 3)
==========  ==========================================================

:func:`normalize` applies the same defaults as GRUB and the shell library to a
missing or malformed value, so a garbage block still boots a slot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from provisioner.errors import CodecError

SIGNATURE = b"# GRUB Environment Block\n"
BLOCK_SIZE = 1024
#: Every assignment must fit here: a userspace update writes this one sector.
ATOMIC_SIZE = 512
SLOTS = ("A", "B")
DEFAULT_TRIES = "3"
#: The variables, in the order every writer puts them.
VARIABLES = ("ORDER", "A_OK", "B_OK", "A_LEFT", "B_LEFT", "TRIES")

_VALID = {
    "ORDER": re.compile(r"A B|B A"),
    "A_OK": re.compile(r"[01]"),
    "B_OK": re.compile(r"[01]"),
    "A_LEFT": re.compile(r"[0-9]"),
    "B_LEFT": re.compile(r"[0-9]"),
    "TRIES": re.compile(r"[1-9]"),
}


class GrubenvError(CodecError, ValueError):
    """A block that is not a GRUB environment block, or values that cannot be one."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__("grubenv", message, offset)


def parse(block: bytes) -> dict[str, str]:
    """The ``KEY=value`` assignments of a block, read exactly as GRUB reads them.

    GRUB's ``grub_envblk_iterate``: a line starting with ``#`` is skipped; any other
    runs to the next ``=`` (even across newlines: a line without one swallows the
    next assignment) for its name, then to an unescaped newline for its value (a
    backslash escapes the next byte); an unterminated one ends the reading. Raises
    :class:`GrubenvError` only for a block without GRUB's signature."""
    if not block.startswith(SIGNATURE):
        raise GrubenvError("no '# GRUB Environment Block' signature", 0)
    out: dict[str, str] = {}
    pos, end = len(SIGNATURE), len(block)
    while pos < end:
        if block[pos] != 0x23:  # '#'
            eq = block.find(b"=", pos)
            if eq < 0:
                break
            nl = eq + 1
            while nl < end and block[nl] != 0x0A:
                nl += 2 if block[nl] == 0x5C else 1
            if nl >= end:
                break
            value = re.sub(rb"\\(.)", rb"\1", block[eq + 1 : nl], flags=re.S)
            out[block[pos:eq].decode(errors="replace")] = value.decode(errors="replace")
            pos = nl
        newline = block.find(b"\n", pos)
        pos = end if newline < 0 else newline + 1
    return out


def pack(values: Mapping[str, str]) -> bytes:
    """A 1024-byte block with ``values`` in their order, every one in the first 512 bytes.

    Refuses a key or value GRUB could not read back as it was: a newline, a
    key with ``=``, and assignments that do not fit the first sector."""
    body = bytearray(SIGNATURE)
    for key, value in values.items():
        if not key or "=" in key or "\n" in key or key.startswith("#") or "\\" in key:
            raise GrubenvError(f"{key!r} cannot be a variable name", len(body))
        if "\n" in value:
            raise GrubenvError(f"{key}: a value with a newline cannot be stored", len(body))
        escaped = value.replace("\\", "\\\\")
        body += f"{key}={escaped}\n".encode()
    if len(body) > ATOMIC_SIZE:
        raise GrubenvError(
            f"the assignments take {len(body)} bytes; they must fit the first "
            f"{ATOMIC_SIZE} (one sector written at once)",
            ATOMIC_SIZE,
        )
    return bytes(body) + b"#" * (BLOCK_SIZE - len(body))


def defaults(tries: str = DEFAULT_TRIES) -> dict[str, str]:
    """A fresh disk: A first, both slots allowed, every try left."""
    return {
        "ORDER": "A B",
        "A_OK": "1",
        "B_OK": "1",
        "A_LEFT": tries,
        "B_LEFT": tries,
        "TRIES": tries,
    }


def normalize(env: Mapping[str, str]) -> dict[str, str]:
    """The six variables in their order, each malformed or missing one at its
    default (as GRUB's grub.cfg and ``grubenv.sh`` do); other variables dropped."""
    tries = env.get("TRIES", "")
    if not _VALID["TRIES"].fullmatch(tries):
        tries = DEFAULT_TRIES
    base = defaults(tries)
    return {
        key: env[key] if _VALID[key].fullmatch(env.get(key, "")) else base[key] for key in VARIABLES
    }


def read(block: bytes) -> dict[str, str]:
    """What GRUB acts on: the block's variables normalized; defaults for garbage."""
    try:
        return normalize(parse(block))
    except GrubenvError:
        return defaults()


def _other(slot: str) -> str:
    if slot not in SLOTS:
        raise GrubenvError(f"slot must be A or B, not {slot!r}")
    return "B" if slot == "A" else "A"


def activate(env: Mapping[str, str], slot: str) -> dict[str, str]:
    """Boot ``slot`` next, with every try: ORDER="slot other", slot_OK=1, slot_LEFT=TRIES."""
    other = _other(slot)
    out = normalize(env)
    out.update({"ORDER": f"{slot} {other}", f"{slot}_OK": "1", f"{slot}_LEFT": out["TRIES"]})
    return out


def confirm(env: Mapping[str, str], slot: str) -> dict[str, str]:
    """The running ``slot`` booted well: slot_OK=1, slot_LEFT=TRIES (ORDER unchanged)."""
    _other(slot)
    out = normalize(env)
    out.update({f"{slot}_OK": "1", f"{slot}_LEFT": out["TRIES"]})
    return out
