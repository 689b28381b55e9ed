"""A real ``provisioner serve`` (the HTTP front on gunicorn) against slow and
malformed clients over 127.0.0.1: slow heads hold no thread, are closed at the
header timeout, one address cannot hold more than its cap, bad heads get JSON."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.release import add_release_to
from tests.support.server import curl, serve
from tests.support.slowclients import (
    MiB,
    SlowClients,
    boot_setup,
    raise_open_files,
    timed_fetches,
)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
HEADER_TIMEOUT = 10.0  # the default http_header_timeout


def test_two_thousand_slow_heads_neither_starve_boot_fetches_nor_outlive_the_header_timeout(
    tmp_path: Path,
) -> None:
    raise_open_files(4096)
    data = tmp_path / "data"
    add_release_to(data)
    with serve(tmp_path, data_dir=data) as server:
        urls, image = boot_setup(server)
        port = int(urlsplit(server.base).port or 0)
        with SlowClients(port, drip=1000, stall=1000) as slow:
            assert slow.refused == 0
            time.sleep(2)  # every slow connection is accepted and part-way through its head
            (cfg_s, _, cfg), (ipxe_s, _, script), (range_s, _, part) = timed_fetches(urls)
            hanging = slow.open_count()
            deadline = time.monotonic() + HEADER_TIMEOUT + 10
            while slow.open_count() and time.monotonic() < deadline:
                time.sleep(0.2)
            lifetimes = slow.lifetimes()
            answers = [c.answer for c in slow.conns]
    assert b"APPEND auto" in cfg
    assert script.startswith(b"#!ipxe\n")
    assert part == image[3 * MiB : 4 * MiB]
    assert max(cfg_s, ipxe_s, range_s) < 1.0, (cfg_s, ipxe_s, range_s)
    assert hanging == 2000, "the server closed slow connections before their header timeout"
    assert len(lifetimes) == 2000, f"{2000 - len(lifetimes)} still open after the timeout"
    assert min(lifetimes) >= HEADER_TIMEOUT - 1
    assert max(lifetimes) <= HEADER_TIMEOUT + 5
    assert all(a.startswith(b"HTTP/1.1 408 ") and b'"request_timeout"' in a for a in answers)


def test_one_address_past_its_connection_cap_is_refused_while_others_are_served(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, http_max_per_client="8") as server:
        port = int(urlsplit(server.base).port or 0)
        with SlowClients(port, drip=0, stall=8, sources=1) as slow:  # 8 from 127.0.1.1
            time.sleep(0.5)
            with socket.create_connection(("127.0.0.1", port), 10, ("127.0.1.1", 0)) as extra:
                extra.settimeout(10)
                answer = b""
                while chunk := extra.recv(65536):
                    answer += chunk
            same = curl("--interface", "127.0.1.1", "-o", "/dev/null", "-w", "%{http_code}",
                        f"{server.base}/")  # fmt: skip
            other = curl("-o", "/dev/null", "-w", "%{http_code}", f"{server.base}/")
            assert slow.open_count() == 8
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 429 ")
    assert json.loads(body)["error"]["code"] == "too_many_connections"
    assert same.stdout in (b"000", b"429")  # refused: the answer, or a reset before curl read it
    assert other.stdout == b"200"


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_malformed_heads_get_a_json_4xx_and_the_server_keeps_answering(tmp_path: Path) -> None:
    cases = {
        b"NONSENSE\r\n\r\n": (400, "bad_request_line"),
        b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n": (400, "bad_framing"),
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n": (
            400,
            "bad_framing",
        ),
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n": (400, "bad_chunk"),
        b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n": (431, "header_too_large"),
        b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n": (414, "uri_too_long"),
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n": (400, "bad_request"),
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n": (400, "bad_request"),
    }
    with serve(tmp_path) as server:
        port = int(urlsplit(server.base).port or 0)
        for request, (status, code) in cases.items():
            head, _, body = _exchange(port, request).partition(b"\r\n\r\n")
            assert head.startswith(f"HTTP/1.1 {status} ".encode()), (request[:40], head)
            assert b"Content-Type: application/json" in head
            assert json.loads(body)["error"]["code"] == code, request[:40]
        assert curl("-o", "/dev/null", "-w", "%{http_code}", f"{server.base}/").stdout == b"200"


def _fresh_get(base: str) -> tuple[bytes, float]:
    """GET / on a new connection: (status, seconds)."""
    started = time.monotonic()
    fresh = curl("-o", "/dev/null", "-w", "%{http_code}", f"{base}/")
    return fresh.stdout, time.monotonic() - started


def test_idle_keep_alive_connections_hold_no_thread(tmp_path: Path) -> None:
    """Two threads, forty kept-alive connections idle after one request each:
    a new client is still answered at once."""
    with serve(tmp_path, http_threads="2") as server:
        port = int(urlsplit(server.base).port or 0)
        idle = []
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", port), 10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200")
            assert b"keep-alive" in head.lower()
            idle.append(sock)
        status, took = _fresh_get(server.base)
        for sock in idle:
            sock.close()
    assert status == b"200"
    assert took < 1.0


def test_a_small_body_still_coming_holds_no_thread(tmp_path: Path) -> None:
    """Two threads, twenty requests whose heads are complete but whose small bodies
    stop after 10 of 1,000 bytes: no thread waits for them, a new client is answered."""
    with serve(tmp_path, http_threads="2") as server:
        port = int(urlsplit(server.base).port or 0)
        stuck = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port), 10)
            sock.sendall(
                b"PUT /api/v1/nodes/52:54:00:00:00:01 HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b"{" * 10
            )
            stuck.append(sock)
        time.sleep(0.5)
        status, took = _fresh_get(server.base)
        for sock in stuck:
            sock.close()
    assert status == b"200"
    assert took < 1.0


def _stall(port: int, head: bytes, part: bytes) -> tuple[float, bytes]:
    """Send a head and part of its body, then nothing: (seconds to the answer, answer)."""
    with socket.create_connection(("127.0.0.1", port), 30) as sock:
        sock.sendall(head + part)
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return time.monotonic() - started, answer


def test_a_body_that_stalls_past_the_body_timeout_ends_its_request_with_a_4xx(
    tmp_path: Path,
) -> None:
    with serve(tmp_path, http_body_timeout="2") as server:
        port = int(urlsplit(server.base).port or 0)
        auth = f"Authorization: Bearer {server.token}\r\n".encode()
        # a large chunked body the app reads whole (a syslinux.cfg import)
        chunk = b"# " + b"x" * 99_998 + b"\n"
        took, answer = _stall(
            port,
            b"POST /api/v1/import/syslinux HTTP/1.1\r\nHost: x\r\n" + auth
            + b"Transfer-Encoding: chunked\r\n\r\n",
            f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n",
        )  # fmt: skip
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), head  # werkzeug: ClientDisconnected
        assert json.loads(body)["error"]["code"] == "bad_request"
        assert 1.5 < took < 10
        # an upload streaming to disk: what reached the disk is kept, the answer says where
        size, sent = 4 << 20, 1_500_000
        started = curl(*server.auth, "-H", "Content-Type: application/json", "-d",
                       json.dumps({"target": "image", "name": "a", "version": "1",
                                   "size": size}), f"{server.base}/api/v1/uploads")  # fmt: skip
        upload = json.loads(started.stdout)["id"]
        took, answer = _stall(
            port,
            f"PUT /api/v1/uploads/{upload} HTTP/1.1\r\nHost: x\r\n".encode() + auth
            + b"Content-Type: application/octet-stream\r\n"
            + f"Content-Range: bytes 0-{size - 1}/{size}\r\n".encode()
            + f"Content-Length: {size}\r\n\r\n".encode(),
            b"y" * sent,
        )  # fmt: skip
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), head
        assert json.loads(body)["error"]["code"] == "incomplete_body"
        assert 1.5 < took < 10
        state = json.loads(curl(*server.auth, f"{server.base}/api/v1/uploads/{upload}").stdout)
        assert 0 < state["offset"] <= sent  # the server writes whole blocks it has read
        assert f"Upload-Offset: {state['offset']}".encode() in head
