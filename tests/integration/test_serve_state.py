"""``provisioner serve`` tells previews where it runs (``DATA_DIR/server.json``)
and forgets it when it stops."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from provisioner.serverstate import STATE_FILE
from tests.support.server import serve

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def test_serve_records_its_url_while_it_runs_and_removes_it_when_it_stops(
    tmp_path: Path,
) -> None:
    with serve(tmp_path) as server:
        state = json.loads((server.data_dir / STATE_FILE).read_text())
        assert (state["url"], state["pid"]) == (server.base, server.proc.pid)
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=60)
    assert not (server.data_dir / STATE_FILE).exists()
