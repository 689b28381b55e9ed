"""The ``provisioner`` command, in-process (click's runner) and as a real process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from provisioner.cli import main
from tests.conftest import FIXTURES

SYSLINUX = FIXTURES / "syslinux"
AVBOX1 = (
    "initrd=initrd.img quiet ramdisk_size=81920 keyboard.de_CH lang.de auto "
    "ip.192.168.2.251 submask.255.255.255.0 gw.192.168.2.251 dns.192.168.2.251"
)
AVBOX2 = (
    "initrd=initrd.img quiet ramdisk_size=81920 lang.de auto ip.192.168.2.252 "
    "submask.255.255.255.0 gw.192.168.2.251 dns.192.168.2.251 copyiso.tinycore.iso "
    "copydef.101.con copyimg.v101.img"
)


@pytest.fixture
def run(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    env = {"PROVISIONER_DATA_DIR": str(tmp_path / "data"), "PROVISIONER_DATABASE_URL": db_url}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_importing_the_papers_files_gives_pxelinux_files_with_their_append_lines(
    run, release
) -> None:  # type: ignore[no-untyped-def]
    """The issue's "done when": avbox1.cfg + avbox2.cfg -> two MACs -> exact APPEND lines."""
    assert run("import-syslinux", str(SYSLINUX / "avbox1.cfg")).exit_code == 0
    assert run("import-syslinux", str(SYSLINUX / "avbox2.cfg")).exit_code == 0
    one = ("node", "set", "52:54:00:c0:02:01", "--profile", "avbox1", "--release", release)
    assert run(*one).exit_code == 0
    two = ("node", "set", "52-54-00-C0-02-02", "--profile", "avbox2", "--release", release)
    assert run(*two).exit_code == 0
    one = run("node", "show", "525400c00201", "--boot").output
    two = run("node", "show", "52:54:00:c0:02:02", "--boot").output
    # the paper's words unchanged; the installer's server, token and action follow them
    agent = r" server\.http://SERVER:8080 token\.\S+ action\.install\n"
    assert re.search(rf"\n  APPEND {re.escape(AVBOX1)}{agent}", one)
    assert re.search(rf"\n  APPEND {re.escape(AVBOX2)}{agent}", two)
    assert "# pxelinux.cfg/01-52-54-00-c0-02-02" in two


def test_import_is_idempotent_and_refuses_changes_without_replace(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = run("import-syslinux", str(SYSLINUX / "avbox2.cfg"))
    assert first.stdout.splitlines() == ["created: linux", "created: debug", "created: avbox2"]
    # preflight's warnings on stderr: a syslinux.cfg names no release
    assert "profile avbox2: release: profile avbox2 was imported" in first.stderr
    again = run("import-syslinux", str(SYSLINUX / "avbox2.cfg"))
    assert again.exit_code == 0
    assert "unchanged: avbox2" in again.output
    changed = tmp_path / "changed.cfg"
    changed.write_text(
        (SYSLINUX / "avbox2.cfg").read_text().replace("ip.192.168.2.252", "ip.192.168.2.253")
    )
    refused = run("import-syslinux", str(changed))
    assert refused.exit_code == 1
    assert "refused: label 'avbox2' would change the existing profile 'avbox2'" in refused.output
    assert "ip.192.168.2.252" in run("profile", "show", "avbox2").output
    assert run("import-syslinux", "--replace", str(changed)).exit_code == 0
    assert "ip.192.168.2.253" in run("profile", "show", "avbox2").output


def test_wrapped_append_is_reported_with_its_line_and_nothing_is_imported(run) -> None:  # type: ignore[no-untyped-def]
    result = run("import-syslinux", str(SYSLINUX / "avbox1-wrapped.cfg"))
    assert result.exit_code == 2
    assert "line 18: 'keyboard.de_CH lang.de auto ip.192.168.2.251' continues the APPEND" in (
        result.output
    )
    assert "nothing imported" in result.output
    assert run("profile", "list").output == ""
    joined = run("import-syslinux", "--join-wrapped", str(SYSLINUX / "avbox1-wrapped.cfg"))
    assert joined.exit_code == 0
    assert AVBOX1 in run("profile", "show", "avbox1").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("node", "set", "zz:zz"), "mac: 'zz:zz' is not a MAC address"),
        (
            ("node", "set", "52:54:00:c0:02:01", "--options", "ip.300.1.1.1"),
            "options.ip: '300.1.1.1' is not an IPv4 address",
        ),
        (("node", "set", "52:54:00:c0:02:01", "--options", "lang.de;reboot"), "';'"),
        (("node", "set", "52:54:00:c0:02:01", "--options", "x.${evil}"), "'${'"),
        (("node", "set", "52:54:00:c0:02:01", "--options", "lang.de\nAPPEND x"), "one line"),
        (("node", "set", "52:54:00:c0:02:01", "--option", "x." + "a" * 2100), "limit"),
        (("node", "set", "52:54:00:c0:02:01", "--hostname", "no_underscores"), "hostname"),
        (("profile", "set", "p", "--kernel", "../etc/passwd"), "kernel"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_field(run, args, message) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert run("node", "list").output == ""


def test_node_set_changes_single_words_and_keeps_the_rest(run, release) -> None:  # type: ignore[no-untyped-def]
    mac = "52:54:00:c0:02:01"
    run("node", "set", mac, "--options", "lang.de auto ip.192.0.2.50", "--release", release)
    run("node", "set", "52:54:00:c0:02:01", "--option", "ip.192.0.2.51", "--unset", "auto")
    assert "options:     lang.de ip.192.0.2.51\n" in run("node", "show", "52:54:00:c0:02:01").output


def test_tokens_are_printed_once_and_listed_without_secret(run) -> None:  # type: ignore[no-untyped-def]
    result = run("token", "create", "--role", "admin", "--name", "ops")
    secret = result.output.splitlines()[0]
    assert secret.startswith("prov_")
    listing = run("token", "list").output
    assert "admin\tops" in listing
    assert secret not in listing
    assert run("token", "revoke", "1").exit_code == 0


def test_every_command_has_help(run) -> None:  # type: ignore[no-untyped-def]
    commands = [
        (),
        ("serve",),
        ("db",),
        ("db", "upgrade"),
        ("token", "create"),
        ("import-syslinux",),
        ("node", "set"),
        ("node", "show"),
        ("node", "list"),
        ("node", "check"),
        ("profile", "set"),
        ("profile", "list"),
        ("bundle", "set"),
    ]
    for cmd in commands:
        result = run(*cmd, "--help")
        assert result.exit_code == 0
        assert "Usage:" in result.output


def test_bad_settings_are_reported_with_their_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["node", "list"],
        env={"PROVISIONER_DATA_DIR": str(tmp_path), "PROVISIONER_HTTP_WORKERS": "lots"},
    )
    assert result.exit_code == 2
    assert "PROVISIONER_HTTP_WORKERS" in result.output


def test_python_dash_m_and_the_console_script_both_work(tmp_path: Path) -> None:
    env = {"PROVISIONER_DATA_DIR": str(tmp_path / "d"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "provisioner", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "database at revision" in out.stdout
    assert (tmp_path / "d" / "provisioner.db").exists()
    script = Path(sys.executable).parent / "provisioner"
    out = subprocess.run(
        [str(script), "node", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == ""
