"""``provisioner serve`` answers /boot/files/ to curl over HTTP/1.0, as lpxelinux.0 asks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.config import load_settings
from provisioner.db import open_store
from provisioner.service import Service
from tests.support.proc import free_tcp_port, running, wait_tcp
from tests.support.release import add_release

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
PXE = Path("/usr/lib/PXELINUX/pxelinux.0")


def _curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, timeout=20, check=False
    )


def test_lpxelinux_style_http_1_0_fetches_are_byte_identical_and_need_no_token(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (data / "boot").mkdir(parents=True)
    kernel = os.urandom(300_000)
    (data / "boot" / "vmlinuz").write_bytes(kernel)
    (tmp_path / "secret").write_text("TOPSECRET")
    settings = load_settings({}, overrides={"data_dir": str(data)})
    store = open_store(settings)
    try:
        service = Service(store, settings)
        node = {"options": "auto ip.192.0.2.50", "release": add_release(store)}
        service.save_node("52:54:00:c0:02:0a", node)
        port = free_tcp_port()
        # over HTTP the agent is told to report to the address the request came to
        generated = service.pxelinux_file("01-52-54-00-c0-02-0a", f"http://127.0.0.1:{port}")
    finally:
        store.close()
    assert generated is not None
    env = {
        **os.environ,
        "PROVISIONER_DATA_DIR": str(data),
        "PROVISIONER_HTTP": f"127.0.0.1:{port}",
        "PROVISIONER_HTTP_WORKERS": "1",
    }
    log = tmp_path / "serve.log"
    serve = [str(Path(sys.executable).parent / "provisioner"), "serve"]
    with running(serve, log, env) as proc:
        wait_tcp("127.0.0.1", port, 30, proc, log)
        base = f"http://127.0.0.1:{port}/boot/files"
        wanted = {"vmlinuz": kernel, "pxelinux.cfg/01-52-54-00-c0-02-0a": generated.encode()}
        if PXE.exists():
            wanted["pxelinux.0"] = PXE.read_bytes()
        for name, expected in wanted.items():
            out = tmp_path / "out"
            got = _curl("--http1.0", "-D", str(tmp_path / "headers"), "-o", str(out),
                        f"{base}/{name}")  # fmt: skip
            assert got.returncode == 0, got.stderr
            assert out.read_bytes() == expected
            headers = (tmp_path / "headers").read_text().lower()
            assert headers.startswith("http/1.")
            assert f"content-length: {len(expected)}" in headers
        head = _curl("--http1.0", "-I", f"{base}/vmlinuz").stdout.decode().lower()
        assert f"content-length: {len(kernel)}" in head
        traversal = _curl("--path-as-is", "-w", "%{http_code}", f"{base}/../../secret")
        assert b"TOPSECRET" not in traversal.stdout
        assert traversal.stdout.endswith((b"403", b"404"))
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert "HTTP boot file pxelinux.cfg/01-52-54-00-c0-02-0a" in log.read_text()
