"""Pure modules (codecs, renderers, the dot-options format, policies) import no
framework, DB or socket, and no module that reaches the disk, the clock, randomness
or the process (docs/architecture.md lists them as pure)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PURE = [
    "provisioner.bootparams",
    "provisioner.domain",
    "provisioner.bootspec",
    "provisioner.bootnames",
    "provisioner.errors",
    "provisioner.importer",
    "provisioner.fields",
    "provisioner.dhcp",
    "provisioner.dhcp.options",
    "provisioner.dhcp.packet",
    "provisioner.dhcp.config",
    "provisioner.dhcp.boot",
    "provisioner.dhcp.leases",
    "provisioner.dhcp.policy",
    "pxelinux.render",
    "pxelinux.syslinux_cfg",
    "tftp.packet",
    "tftp.routes",  # names only; tftp.files does the disk lookups
    "provisioner.dns.zone",
    # media: format checks, range decisions, paths/URLs and the manifest builder
    "media.squashfs",
    "media.diskimage",
    "media.bundlefiles",
    "media.ranges",
    "media.layout",
    "provisioner.manifest",
    "media.errors",
    # installer: lifecycle rules, the cpio writer, the installed-disk reader
    "provisioner.lifecycle",
    "provisioner.preflight",  # the boot tree comes in as a function of a name
    "provisioner.httphead",  # when a request head (and a small body) is complete
    "media.cpio",
    "media.disklayout",
    # the on-disk boot loader: the GRUB environment block and the GRUB scripts
    "media.grubenv",
    "media.grubcfg",
]
FORBIDDEN = ["flask", "sqlalchemy", "socket", "threading", "asyncio", "werkzeug", "alembic"]


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io_framework(module: str) -> None:
    code = (
        f"import sys; import {module}; "
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"


#: what a pure module may not import even though the interpreter has it loaded anyway
NO_EFFECTS = {
    "os", "pathlib", "io", "shutil", "tempfile", "subprocess", "signal", "fcntl", "resource",
    "select", "time", "random", "secrets", "logging",
}  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]


def _source(module: str) -> Path:
    path = ROOT / (module.replace(".", "/") + ".py")
    return path if path.exists() else ROOT / module.replace(".", "/") / "__init__.py"


@pytest.mark.parametrize("module", PURE)
def test_pure_module_reaches_no_disk_clock_or_randomness(module: str) -> None:
    tree = ast.parse(_source(module).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level == 0
            else []
        )
    }
    assert imported.isdisjoint(NO_EFFECTS), f"{module} imports {sorted(imported & NO_EFFECTS)}"
