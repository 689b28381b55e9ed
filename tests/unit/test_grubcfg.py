"""GRUB scripts of an installed disk (media/grubcfg.py): the slot's boot.cfg quotes
every kernel word so none can run a GRUB command or become two words."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.grubcfg import (
    BootCfgError,
    grub_word,
    loader_grub_cfg,
    local_grub_cfg,
    slot_boot_cfg,
)

#: Printable ASCII less the three characters GRUB's linux command would escape.
passable = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\"'\\"),
    min_size=1,
)


def script_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.cfg"
    path.write_text(text)
    return subprocess.run(
        ["grub-script-check", str(path)], capture_output=True, text=True, timeout=30, check=False
    )


def test_boot_cfg_boots_the_slots_kernel_with_its_words_and_panic_reboots_last() -> None:
    assert slot_boot_cfg("B", ["console=ttyS0,115200", "ip.192.0.2.5"]) == (
        "linux $bootdir/vmlinuz prov.slot=B 'console=ttyS0,115200' 'ip.192.0.2.5' panic=10\n"
        "initrd $bootdir/initrd.img\n"
    )
    assert slot_boot_cfg("A", []) == (
        "linux $bootdir/vmlinuz prov.slot=A panic=10\ninitrd $bootdir/initrd.img\n"
    )


@pytest.mark.parametrize(
    ("word", "quoted"),
    [
        ("a;reboot", "'a;reboot'"),
        ("$prefix", "'$prefix'"),
        ("${root}x", "'${root}x'"),
        ("x y", "'x y'"),  # one GRUB word; GRUB hands it to the kernel as "x y": one word
        ("a|b&c", "'a|b&c'"),
        ("{ boot; }", "'{ boot; }'"),
        ("<x>", "'<x>'"),
        ("#comment", "'#comment'"),
    ],
)
def test_grub_metacharacters_are_single_quoted_into_one_literal_word(
    word: str, quoted: str
) -> None:
    assert grub_word(word) == quoted


@pytest.mark.parametrize(
    ("word", "why"),
    [
        ("a\nreboot", "printable ASCII"),
        ("a\rb", "printable ASCII"),
        ("a\tb", "printable ASCII"),
        ("\0", "printable ASCII"),
        ("caf\u00e9", "printable ASCII"),
        ("it's", "single quote"),
        ("'; reboot; '", "single quote"),
        ('a"b', "double quote"),
        ('x="a b"', "double quote"),
        ("a\\b", "backslash"),
        ("", "empty"),
    ],
)
def test_words_that_cannot_reach_the_kernel_unchanged_are_refused_with_the_reason(
    word: str, why: str
) -> None:
    with pytest.raises(BootCfgError, match=why) as caught:
        slot_boot_cfg("A", ["quiet", word])
    assert isinstance(caught.value, ValueError)


def test_a_slot_other_than_a_or_b_and_a_bare_string_of_words_are_refused() -> None:
    with pytest.raises(ValueError, match="A or B"):
        slot_boot_cfg("C", [])
    with pytest.raises(ValueError, match="sequence of words"):
        slot_boot_cfg("A", "quiet splash")


@given(st.lists(passable, max_size=5))
def test_every_passable_word_is_one_single_quoted_grub_word(words: list[str]) -> None:
    """No passable word has a single quote, so each is exactly one quoted GRUB token."""
    line = slot_boot_cfg("A", words).splitlines()[0]
    args = ["prov.slot=A", *(f"'{w}'" for w in words), "panic=10"]
    assert line == "linux $bootdir/vmlinuz " + " ".join(args)


def test_hostile_boot_cfg_and_the_loader_and_local_grub_cfg_are_valid_grub_script(
    tmp_path: Path,
) -> None:
    hostile = slot_boot_cfg("A", ["a;reboot", "$x", "}", "{", "x y", "fi", "done"])
    assert script_check(tmp_path, hostile).returncode == 0
    assert script_check(tmp_path, loader_grub_cfg()).returncode == 0
    assert script_check(tmp_path, local_grub_cfg()).returncode == 0
    # and the checker does reject a broken script (it really parses)
    assert script_check(tmp_path, "if true; then\n").returncode != 0


def test_the_loader_finds_its_own_disk_and_reads_only_its_own_variables() -> None:
    cfg = loader_grub_cfg()
    assert "hd0" not in cfg
    assert """regexp --set=1:disk '^([^,]+),' "$root"\n""" in cfg
    assert 'set data="($disk,gpt6)"' in cfg
    assert 'load_env --file "$envfile" ORDER A_OK B_OK A_LEFT B_LEFT TRIES\n' in cfg
    assert "terminal_output serial console" in cfg
