"""What the VM scenarios share: the boot environment, the disk loader and the test
releases are built once per session (tests/e2e/installer_lab.py)."""

from __future__ import annotations

import pytest

from tests.e2e.installer_lab import Artifacts, make_artifacts, need_tools
from tests.support import netns
from tests.support.vm import require_qemu


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    netns.require()
    require_qemu()
    need_tools()
    return make_artifacts(tmp_path_factory.mktemp("installer-artifacts"))
