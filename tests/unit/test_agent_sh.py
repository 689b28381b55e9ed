"""The installer agent is POSIX sh for busybox: shellcheck finds nothing in it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "media" / "agent"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_the_agent_scripts_pass_shellcheck_as_posix_sh() -> None:
    scripts = sorted(AGENT.glob("*.sh"))
    assert [s.name for s in scripts] == [
        "agent.sh",
        "boot-report.sh",
        "common.sh",
        "grubenv.sh",
        "init.sh",
        "slotinit.sh",
        "udhcpc.sh",
    ]
    out = subprocess.run(
        ["shellcheck", "-x", "-P", "SCRIPTDIR", "-s", "sh", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout
