"""Pure modules (codecs, renderers, the dot-options format) import no framework, DB or socket."""

from __future__ import annotations

import subprocess
import sys

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
    "tftp.routes",
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
    "media.cpio",
    "media.disklayout",
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
