"""``python -m tftp`` and ``python -m provisioner.dns``: help, and clean start-up errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


@pytest.mark.parametrize(("module", "word"), [("tftp", "--root"), ("provisioner.dns", "--record")])
def test_help_describes_the_options(module: str, word: str) -> None:
    out = _run(module, "--help")
    assert out.returncode == 0
    assert word in out.stdout


@pytest.mark.parametrize(
    ("module", "extra"),
    [("tftp", ["--root", "."]), ("provisioner.dns", ["--record", "a=192.0.2.5"])],
)
def test_a_port_in_use_is_one_clear_line_and_exit_1(module: str, extra: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        out = _run(module, "--listen", f"127.0.0.1:{port}", *extra)
    assert out.returncode == 1
    assert out.stderr.strip().endswith(f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "Traceback" not in out.stderr


def test_an_address_this_host_does_not_have_is_a_clean_error() -> None:
    out = _run("tftp", "--listen", "192.0.2.1:69", "--root", ".")  # only ever bound, never sent to
    assert out.returncode == 1
    assert "Cannot assign requested address" in out.stderr
    assert "Traceback" not in out.stderr
