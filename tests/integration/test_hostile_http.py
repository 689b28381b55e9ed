"""A real ``provisioner serve`` (gunicorn) against careless clients over 127.0.0.1:
a chunked body past the limit is a 413 (not cut and processed), and a request
refused before its body was read leaves the connection usable or says it closes."""

from __future__ import annotations

import http.client
import socket
from pathlib import Path
from urllib.parse import urlsplit

from provisioner.web.body import DRAIN_MAX, MAX_BODY
from tests.support.server import Server, serve


def _connect(server: Server) -> http.client.HTTPConnection:
    url = urlsplit(server.base)
    return http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)


def _chunks(data: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_over_gunicorn_chunked_bodies_past_the_limit_are_413_and_early_refusals_keep_step(
    tmp_path: Path,
) -> None:
    with serve(tmp_path) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        # a chunked syslinux.cfg one label past the limit: 413, nothing imported
        conn = _connect(server)
        body = b"LABEL a\n  KERNEL vmlinuz\n" + b"#" * MAX_BODY + b"\nLABEL b\n  KERNEL vmlinuz\n"
        conn.request(
            "POST", "/api/v1/import/syslinux", body=iter(_chunks(body)), headers=auth,
            encode_chunked=True,
        )  # fmt: skip
        resp = conn.getresponse()
        assert resp.status == 413, resp.read()
        resp.read()
        conn.close()
        conn = _connect(server)
        conn.request("GET", "/api/v1/profiles", headers=auth)
        assert conn.getresponse().read() == b"[]\n"

        # refused before the body was read (no token): a small body is drained, and
        # the next request on the same connection is answered
        for size in (200 * 1024, DRAIN_MAX):
            conn.request("POST", "/api/v1/images?name=a&version=1", body=b"x" * size)
            resp = conn.getresponse()
            resp.read()
            assert (resp.status, resp.getheader("Connection")) == (401, "keep-alive")
            conn.request("GET", "/api/v1/profiles", headers=auth)
            again = conn.getresponse()
            assert (again.status, again.read()) == (200, b"[]\n")
        conn.close()

        # a large one is not read: the answer says the connection closes, and it does
        for framing in (f"Content-Length: {8 * DRAIN_MAX}", "Transfer-Encoding: chunked"):
            url = urlsplit(server.base)
            with socket.create_connection((url.hostname or "", url.port or 80), 30) as sock:
                sock.sendall(
                    f"POST /api/v1/images?name=a&version=1 HTTP/1.1\r\nHost: x\r\n"
                    f"{framing}\r\n\r\n".encode()
                )
                chunk = b"x" * 65536
                sock.sendall(chunk if "Length" in framing else b"10000\r\n" + chunk + b"\r\n")
                answer = b""
                while b"\r\n\r\n" not in answer:
                    got = sock.recv(65536)
                    assert got, answer
                    answer += got
                head = answer.split(b"\r\n\r\n")[0].decode().lower()
                assert head.startswith("http/1.1 401")
                assert "connection: close" in head.splitlines()
                sock.settimeout(10)
                while sock.recv(65536):  # the server closes its end
                    pass
