"""The installed disk, read from outside: GPT partitions and the A/B state record.

Pure (bytes in, values out). The agent (``media/agent/agent.sh``) writes this
layout; tests and tools read it back with these functions:

=====  ============  =======================================================
 #     name          contents
=====  ============  =======================================================
 1     prov-state    two copies (offset 0 and 64 KiB) of the state record
 2     prov-A        system slot A: a release's squashfs image, verbatim
 3     prov-B        system slot B
 4     prov-data     ext4 data; ``instances/`` holds the bundled VM files
=====  ============  =======================================================

State record (text, one 4 KiB block, zero padded)::

    PROVISIONER-STATE 1
    seq 3
    active B
    slot A avbox:2.0 <sha256> <size> <unix time>
    slot B avbox:2.1 <sha256> <size> <unix time>
    mac 52:54:00:c0:02:00
    sum <sha256 of the lines above, newlines included>

The valid copy with the highest ``seq`` wins; the agent always writes the other
copy, so a power cut during the write leaves the previous record intact.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass

from provisioner.errors import CodecError

SECTOR = 512
STATE_COPY_OFFSETS = (0, 64 * 1024)
STATE_BLOCK = 4096
MAGIC = "PROVISIONER-STATE 1"


class LayoutError(CodecError):
    """The bytes are not the layout this module reads; ``offset`` is where in
    them reading gave up."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__("disk", message, offset)


@dataclass(frozen=True, slots=True)
class Partition:
    number: int
    name: str
    type_guid: str
    first_lba: int
    last_lba: int
    attributes: int

    @property
    def offset(self) -> int:
        return self.first_lba * SECTOR

    @property
    def size(self) -> int:
        return (self.last_lba - self.first_lba + 1) * SECTOR


def parse_gpt(head: bytes) -> list[Partition]:
    """Partitions from the first sectors of a disk (protective MBR, GPT header at
    LBA 1, entries after it; 34 sectors hold a standard table)."""
    if len(head) < 2 * SECTOR:
        raise LayoutError("too short for a GPT header", len(head))
    hdr = head[SECTOR : 2 * SECTOR]
    if hdr[:8] != b"EFI PART":
        raise LayoutError("no GPT header at LBA 1", SECTOR)
    entries_lba, count, size = struct.unpack_from("<QII", hdr, 72)
    start = entries_lba * SECTOR
    if size < 128 or start + count * size > len(head):
        raise LayoutError("partition entries lie outside the bytes given", SECTOR + 72)
    parts = []
    for i in range(count):
        raw = head[start + i * size : start + (i + 1) * size]
        type_guid = uuid.UUID(bytes_le=raw[:16])
        if type_guid.int == 0:
            continue
        first, last, attrs = struct.unpack_from("<QQQ", raw, 32)
        name = raw[56:128].decode("utf-16-le", errors="replace").rstrip("\0")
        parts.append(Partition(i + 1, name, str(type_guid).upper(), first, last, attrs))
    return parts


@dataclass(frozen=True, slots=True)
class SlotRecord:
    release: str
    sha256: str
    size: int
    written_at: int


@dataclass(frozen=True, slots=True)
class DiskState:
    seq: int
    active: str | None
    slots: dict[str, SlotRecord]
    mac: str | None


def parse_state(block: bytes) -> DiskState | None:
    """One copy of the state record, or None when it is blank or damaged."""
    text = block.rstrip(b"\0").decode("ascii", errors="replace")
    lines = text.split("\n")
    if not lines or lines[0] != MAGIC:
        return None
    try:
        sum_at = next(i for i, line in enumerate(lines) if line.startswith("sum "))
    except StopIteration:
        return None
    body = "\n".join(lines[:sum_at]) + "\n"
    if hashlib.sha256(body.encode()).hexdigest() != lines[sum_at][4:]:
        return None
    seq, active, mac, slots = -1, None, None, {}
    for line in lines[1:sum_at]:
        key, _, rest = line.partition(" ")
        if key == "seq" and rest.isdigit():
            seq = int(rest)
        elif key == "active":
            active = rest if rest in {"A", "B"} else None
        elif key == "mac":
            mac = rest
        elif key == "slot":
            parts = rest.split()
            if len(parts) == 5 and parts[0] in {"A", "B"}:
                slots[parts[0]] = SlotRecord(parts[1], parts[2], int(parts[3]), int(parts[4]))
    return DiskState(seq, active, slots, mac) if seq >= 0 else None


def best_state(partition: bytes) -> DiskState | None:
    """The winning record of a ``prov-state`` partition's bytes."""
    copies = [parse_state(partition[o : o + STATE_BLOCK]) for o in STATE_COPY_OFFSETS]
    valid = [c for c in copies if c is not None]
    return max(valid, key=lambda c: c.seq) if valid else None
