"""Boot milestones are kept in the store: a step seen by either HTTP worker or by
the network-boot process (TFTP) arrives in the node's timeline."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.release import add_release_to
from tests.support.server import serve
from tests.support.tftp import RawClient

MAC = "52:54:00:c0:02:31"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(conn: http.client.HTTPConnection, path: str, token: str = "") -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.getheader("X-Provisioner-Worker", ""), resp.read()


def _two_workers(host: str, port: int) -> dict[str, http.client.HTTPConnection]:
    """Keep-alive connections until two are held by different workers."""
    conns: dict[str, http.client.HTTPConnection] = {}
    spare = []
    deadline = time.monotonic() + 30
    while len(conns) < 2 and time.monotonic() < deadline:
        batch = [http.client.HTTPConnection(host, port, timeout=10) for _ in range(4)]
        for conn in batch:  # a name we never serve: a 404 that records nothing
            status, pid, _ = _get(conn, "/boot/pxelinux.cfg/C0A80101")
            assert status == 404
            assert pid
            if pid not in conns:
                conns[pid] = conn
            else:
                spare.append(conn)
    for conn in spare:
        conn.close()
    assert len(conns) == 2, "gunicorn did not spread connections over its 2 workers"
    return conns


def test_a_milestone_seen_by_each_http_worker_and_by_tftp_reaches_the_timeline(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (data / "boot").mkdir(parents=True)
    (data / "boot" / "vmlinuz").write_bytes(b"kernel" * 100)
    tftp_port = _free_udp_port()
    with serve(
        tmp_path,
        http_workers="2",
        http_threads="2",
        tftp=f"127.0.0.1:{tftp_port}",
        http_max_per_client="1000",  # every connection here comes from 127.0.0.1
    ) as server:
        url = urlsplit(server.base)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        api = http.client.HTTPConnection(host, port, timeout=10)
        api.request(
            "PUT",
            f"/api/v1/nodes/{MAC}",
            body=json.dumps({"action": "install", "release": add_release_to(data)}),
            headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
        )
        created = api.getresponse()
        assert created.status == 201, created.read()
        created.read()
        workers = _two_workers(host, port)
        first, second = workers.items()
        # worker 1: the iPXE script (loader); worker 2: the per-MAC config, which also
        # ties 127.0.0.1 to the MAC; the network-boot process: the kernel over TFTP,
        # known only by its IP
        status, pid, _ = _get(first[1], f"/boot/ipxe?mac={MAC}")
        assert (status, pid) == (200, first[0])
        status, pid, _ = _get(second[1], "/boot/files/pxelinux.cfg/01-52-54-00-c0-02-31")
        assert (status, pid) == (200, second[0])
        with RawClient(("127.0.0.1", tftp_port)) as tftp:
            assert tftp.fetch("vmlinuz") == b"kernel" * 100
        messages: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, _, body = _get(api, f"/api/v1/nodes/{MAC}/events", server.token)
            assert status == 200
            messages = {e["kind"]: e["message"] for e in json.loads(body)}
            if {"boot.loader", "boot.config", "boot.kernel"} <= set(messages):
                break
            time.sleep(0.2)
        assert {"boot.loader", "boot.config", "boot.kernel"} <= set(messages)
        assert messages["boot.loader"] == "HTTP iPXE script"
        assert messages["boot.config"] == "HTTP pxelinux.cfg/01-52-54-00-c0-02-31"
        assert messages["boot.kernel"] == "TFTP vmlinuz"
        for conn in [api, *workers.values()]:
            conn.close()
