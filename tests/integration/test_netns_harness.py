"""The namespace harness itself: a client reaches the server side and everything is removed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import netns


def test_lab_connects_a_client_and_cleans_up_after_itself(tmp_path: Path) -> None:
    netns.require()
    with netns.lab(tmp_path) as lab:
        client = lab.add_client("c0", "192.0.2.2/24")
        assert client.run("busybox", "ping", "-c", "1", "-W", "2", netns.SERVER_IP).returncode == 0
        names = [lab.server.name, client.name]
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert not any(n in listed.split() for n in names)
