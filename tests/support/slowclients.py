"""Slow HTTP clients (slowloris) for tests and benchmarks, over loopback only.

``drip`` connections send a request head one byte per second; ``stall`` connections
send the request line and then nothing. Each comes from one of ``sources`` loopback
addresses (127.0.1.x), so a per-address cap can stay at its default. A thread
drips the bytes and notes when the server closes each connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from tests.support.server import Server, curl

MAC = "52:54:00:c0:02:0b"
MEDIA = "images/base/1.0/base-1.0.squashfs"
MiB = 1 << 20
#: the part of the release image the third fetch asks for
RANGE = (3 * MiB, 4 * MiB - 1)
HEAD = (
    b"GET /boot/ipxe?mac=52:54:00:aa:bb:cc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"User-Agent: slowloris\r\nAccept: */*\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n"
)
REQUEST_LINE = b"GET /boot/ipxe?mac=52:54:00:aa:bb:cc HTTP/1.1\r\n"


def raise_open_files(need: int) -> None:
    """This process's soft RLIMIT_NOFILE up to ``need`` (at most the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need, "hard RLIMIT_NOFILE too low"


@dataclass
class _Slow:
    sock: socket.socket
    opened: float
    dripping: bool
    sent: int = 0
    closed: float | None = None
    answer: bytes = b""


@dataclass
class SlowClients:
    port: int
    drip: int
    stall: int
    sources: int = 50
    conns: list[_Slow] = field(default_factory=list)
    refused: int = 0  # connections the server refused or reset before the drip started

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def __enter__(self) -> SlowClients:
        raise_open_files(self.drip + self.stall + 512)
        for i in range(self.drip + self.stall):
            source = f"127.0.1.{1 + i % self.sources}"
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), 10, (source, 0))
            except OSError:
                self.refused += 1
                continue
            dripping = i < self.drip
            if not dripping:
                sock.sendall(REQUEST_LINE)
            sock.setblocking(False)
            self.conns.append(_Slow(sock, time.monotonic(), dripping))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for c in self.conns:
            c.sock.close()

    def open_count(self) -> int:
        return sum(1 for c in self.conns if c.closed is None)

    def lifetimes(self) -> list[float]:
        """Seconds from connecting to the server's close, for the closed ones."""
        return [c.closed - c.opened for c in self.conns if c.closed is not None]

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for c in self.conns:
            sel.register(c.sock, selectors.EVENT_READ, c)
        next_drip = time.monotonic()
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=max(0.0, next_drip - time.monotonic())):
                c = key.data
                if self._read(c):
                    sel.unregister(c.sock)
            if time.monotonic() >= next_drip:
                next_drip += 1.0
                for c in self.conns:
                    if c.dripping and c.closed is None and c.sent < len(HEAD):
                        with contextlib.suppress(OSError):
                            c.sent += c.sock.send(HEAD[c.sent : c.sent + 1])
        sel.close()

    @staticmethod
    def _read(c: _Slow) -> bool:
        """Take what the server sent; True when it closed the connection."""
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if data:
            c.answer += data
            return False
        c.closed = time.monotonic()
        return True


def boot_setup(server: Server) -> tuple[list[str], bytes]:
    """A node with a release whose image is on disk (the release row must exist:
    ``add_release_to``); the three URLs a box fetches (pxelinux config, iPXE script,
    the image) and the image's bytes."""
    image = os.urandom(8 * MiB)
    path = server.data_dir / "media" / MEDIA
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image)
    body = json.dumps({"options": "auto", "release": "base:1.0"})
    put = curl(*server.auth, "-X", "PUT", "-H", "Content-Type: application/json", "-d", body,
               "-w", "%{http_code}", f"{server.base}/api/v1/nodes/{MAC}")  # fmt: skip
    assert put.stdout.endswith(b"201"), put
    return [
        f"{server.base}/boot/pxelinux.cfg/01-{MAC.replace(':', '-')}",
        f"{server.base}/boot/ipxe?mac={MAC}",
        f"{server.base}/media/{MEDIA}",
    ], image


def timed_fetches(urls: list[str], max_time: float = 20) -> list[tuple[float, int, bytes]]:
    """(seconds, curl's exit status, body) of each of the three: the last one a
    1 MiB range (:data:`RANGE`). Each on a new connection, one after the other."""
    out = []
    for i, url in enumerate(urls):
        extra = ["-r", f"{RANGE[0]}-{RANGE[1]}"] if i == 2 else []
        started = time.monotonic()
        got = curl("--fail", *extra, url, timeout=max_time)
        out.append((time.monotonic() - started, got.returncode, got.stdout))
    return out
