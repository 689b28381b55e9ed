"""media/agent/grubenv.sh under busybox sh, against a file, cross-checked with
media/grubenv.py and GRUB's grub-editenv."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from media import grubenv
from media.grubenv import BLOCK_SIZE, defaults, pack

LIB = Path(__file__).resolve().parents[2] / "media" / "agent" / "grubenv.sh"
OFFSET = 3 * 512  # the block somewhere inside a larger "device"
VARS = grubenv.VARIABLES
#: Blocks no writer makes, read the way GRUB reads them (a line without '=' runs into
#: the next assignment, which then is none; comments; a last line without newline).
MALFORMED = [
    b"# GRUB Environment Block\nORDER=B A\n$(reboot)\nA_LEFT=1\nB_LEFT=2\n",
    b"# GRUB Environment Block\n\nORDER=B A\nTRIES=4\n",
    b"# GRUB Environment Block\nORDER=B A\n#A_LEFT=1\nB_LEFT=1\nA_OK=0",
    b"# GRUB Environment Block\nA_OK=0\nA_OK=1\nB_LEFT=5\n",  # the last one counts
]
MALFORMED = [b.ljust(BLOCK_SIZE, b"#") if len(b) < 100 else b for b in MALFORMED]
STATES = [
    defaults(),
    {"ORDER": "B A", "A_OK": "1", "B_OK": "0", "A_LEFT": "2", "B_LEFT": "0", "TRIES": "3"},
    {"ORDER": "A B", "A_OK": "0", "B_OK": "1", "A_LEFT": "0", "B_LEFT": "7", "TRIES": "9"},
]


def sh(device: Path, commands: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    script = f'. {LIB}\nDEV="$1" OFF="$2"\n{commands}\n'
    return subprocess.run(
        ["busybox", "sh", "-c", script, "sh", str(device), str(OFFSET)],
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def device_with(tmp_path: Path, block: bytes) -> Path:
    dev = tmp_path / "dev"
    dev.write_bytes(b"\xaa" * OFFSET + block + b"\x55" * 2048)
    return dev


def read_with_sh(dev: Path) -> dict[str, str]:
    out = sh(dev, 'genv_read "$DEV" "$OFF"\n' + "".join(f'echo "{v}=${v}"\n' for v in VARS))
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


def block_of(dev: Path) -> bytes:
    return dev.read_bytes()[OFFSET : OFFSET + BLOCK_SIZE]


@pytest.mark.parametrize(
    "block",
    [
        pack(STATES[1]),
        pack(STATES[2]),
        pack({"TRIES": "5", "B_OK": "0"}),  # missing variables
        pack({"ORDER": "C A", "A_OK": "yes", "A_LEFT": "10", "TRIES": "0", "B_LEFT": "4"}),
        pack({"ORDER": "B A", "ORDER_X": "A B", "note": "ORDER=A B"}),
        b"\0" * BLOCK_SIZE,
        bytes(range(256)) * 4,
        *MALFORMED,
    ],
)
def test_the_shell_reads_a_block_as_the_python_codec_does(tmp_path: Path, block: bytes) -> None:
    assert read_with_sh(device_with(tmp_path, block)) == grubenv.read(block)


@pytest.mark.parametrize("state", STATES)
def test_the_shell_writes_byte_for_byte_what_pack_writes_in_exactly_one_sector(
    tmp_path: Path, state: dict[str, str]
) -> None:
    dev = device_with(tmp_path, pack(defaults()))
    before = dev.read_bytes()
    assigns = " ".join(f"{k}='{v}'" for k, v in state.items())
    sh(dev, f'{assigns}\ngenv_write "$DEV" "$OFF"')
    after = dev.read_bytes()
    assert block_of(dev) == pack(state)
    assert after[:OFFSET] == before[:OFFSET]
    assert after[OFFSET + 512 :] == before[OFFSET + 512 :]
    grub_file = tmp_path / "grubenv"
    grub_file.write_bytes(block_of(dev))
    listed = subprocess.run(
        ["grub-editenv", str(grub_file), "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert listed.splitlines() == [f"{k}={state[k]}" for k in VARS]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("slot", ["A", "B"])
@pytest.mark.parametrize("action", ["activate", "confirm"])
def test_activate_and_confirm_in_the_shell_agree_with_python(
    tmp_path: Path, state: dict[str, str], slot: str, action: str
) -> None:
    dev = device_with(tmp_path, pack(state))
    sh(dev, f'genv_read "$DEV" "$OFF" && genv_{action} {slot} && genv_write "$DEV" "$OFF"')
    expected = getattr(grubenv, action)(state, slot)
    assert block_of(dev) == pack(expected)


def test_a_garbage_block_is_rewritten_whole_from_the_defaults(tmp_path: Path) -> None:
    dev = device_with(tmp_path, b"\xff" * BLOCK_SIZE)
    sh(dev, 'genv_read "$DEV" "$OFF" && genv_activate B && genv_write "$DEV" "$OFF"')
    assert block_of(dev)[:512] == pack(grubenv.activate(defaults(), "B"))[:512]
    assert grubenv.parse(block_of(dev)) == grubenv.activate(defaults(), "B")


@pytest.mark.parametrize(
    "commands",
    [
        'genv_read "$DEV" "$OFF"; ORDER="C A"; genv_write "$DEV" "$OFF"',
        'genv_read "$DEV" "$OFF"; A_LEFT=10; genv_write "$DEV" "$OFF"',
        'genv_read "$DEV" "$OFF"; genv_activate C',
        'genv_read "$DEV" "$OFF"; genv_confirm ""',
    ],
)
def test_malformed_values_and_slots_are_refused_and_nothing_is_written(
    tmp_path: Path, commands: str
) -> None:
    dev = device_with(tmp_path, pack(STATES[1]))
    before = dev.read_bytes()
    result = sh(dev, commands, check=False)
    assert result.returncode == 1
    assert "genv_" in result.stderr
    assert dev.read_bytes() == before
