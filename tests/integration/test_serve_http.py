"""``provisioner serve`` as a real process on gunicorn (the HTTP front), spoken to by curl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.proc import free_tcp_port, running, wait_tcp
from tests.support.release import add_release_to

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
MAC = "52:54:00:c0:02:0a"


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_serve_answers_api_and_boot_requests_over_http_1_0_and_1_1(tmp_path: Path) -> None:
    port = free_tcp_port()
    env = {
        **os.environ,
        "PROVISIONER_DATA_DIR": str(tmp_path / "data"),
        "PROVISIONER_HTTP": f"127.0.0.1:{port}",
        "PROVISIONER_HTTP_WORKERS": "1",
    }
    bindir = Path(sys.executable).parent
    token = subprocess.run(
        [str(bindir / "provisioner"), "token", "create", "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    release = add_release_to(tmp_path / "data")
    log = tmp_path / "serve.log"
    with running([str(bindir / "provisioner"), "serve"], log, env) as proc:
        wait_tcp("127.0.0.1", port, 30, proc, log)
        base = f"http://127.0.0.1:{port}"
        put = _curl(
            "-X",
            "PUT",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps(
                {"options": "keyboard.de_CH lang.de auto ip.192.0.2.50", "release": release}
            ),
            "-w",
            "%{http_code}",
            f"{base}/api/v1/nodes/{MAC}",
        )
        assert put.stdout.endswith("201"), put
        # lpxelinux.0 speaks HTTP/1.0: Content-Length and a closed connection
        old = _curl("--http1.0", "-i", f"{base}/boot/pxelinux.cfg/01-52-54-00-c0-02-0a")
        assert old.stdout.startswith("HTTP/1.0 200") or old.stdout.startswith("HTTP/1.1 200")
        assert "Content-Length:" in old.stdout or "content-length:" in old.stdout.lower()
        assert "APPEND keyboard.de_CH lang.de auto ip.192.0.2.50" in old.stdout
        new = _curl(f"{base}/boot/ipxe?mac={MAC}")
        assert new.stdout.startswith("#!ipxe\n")
        assert (
            _curl("-w", "%{http_code}", "-o", "/dev/null", f"{base}/api/v1/nodes").stdout == "401"
        )
    assert proc.returncode == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "Using worker: FrontWorker" in text  # the HTTP front (provisioner.front)
    assert "HTTP boot fetch pxelinux.cfg/01-52-54-00-c0-02-0a" in text
