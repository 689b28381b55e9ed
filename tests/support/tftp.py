"""A TFTP server running in a thread of the test process, and a raw protocol client.

The raw client is not a mock: it drives the real server over 127.0.0.1 with
exact packets, for what no stock client can do on purpose (duplicate ACKs, a
foreign port mid-transfer, 700 sessions held open at once, never ACKing).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from provisioner.config import Settings, load_settings
from provisioner.daemons import tftp_server
from tftp import packet
from tftp.packet import Ack, Data, Opcode, Packet, Request
from tftp.routes import Tree
from tftp.server import BootFiles, TftpServer
from tftp.session import Retry


def settings_for(tmp_path: Path, **more: object) -> Settings:
    return load_settings(
        {}, overrides={"data_dir": str(tmp_path / "data"), "tftp": "127.0.0.1:0", **more}
    )


@contextlib.contextmanager
def serving(
    settings: Settings,
    boot_files: BootFiles | None = None,
    tree: Tree | None = None,
    retry: Retry | None = None,
) -> Iterator[TftpServer]:
    """The real server on its own event loop in a thread; stopped on exit."""
    loop = asyncio.new_event_loop()
    server = tftp_server(settings, boot_files, tree=tree, retry=retry)
    ready = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the test below
            failed.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    try:
        if failed:
            raise failed[0]
        yield server
    finally:
        if not failed:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class RawClient:
    def __init__(
        self, server: tuple[str, int], timeout: float = 5.0, bind: str = "127.0.0.1"
    ) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.sock.settimeout(timeout)
        self.peer: tuple[str, int] | None = None  # the session's port, once known

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes, to: tuple[str, int] | None = None) -> None:
        self.sock.sendto(data, to or self.peer or self.server)

    def send(self, pkt: Packet, to: tuple[str, int] | None = None) -> None:
        self.send_raw(packet.encode(pkt), to)

    def recv(self) -> tuple[Packet, tuple[str, int]]:
        data, addr = self.sock.recvfrom(70000)
        return packet.decode(data), (addr[0], addr[1])

    def recv_from_server(self, timeout: float) -> tuple[Packet, tuple[str, int]]:
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return self.recv()
        finally:
            self.sock.settimeout(old)

    def recv_or_none(self, timeout: float) -> Packet | None:
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return self.recv()[0]
        except TimeoutError:
            return None
        finally:
            self.sock.settimeout(old)

    def request(self, name: str, **options: str) -> Packet:
        """Send an RRQ; return the first answer and remember the session's port."""
        self.send(Request(Opcode.RRQ, name, "octet", dict(options)), self.server)
        pkt, addr = self.recv()
        self.peer = addr
        return pkt

    def fetch(self, name: str, **options: str) -> bytes:
        """A whole lockstep/windowed transfer (block numbers wrap like curl's)."""
        first = self.request(name, **options)
        blksize = int(options.get("blksize", 512))
        window = 1
        if isinstance(first, packet.OptionAck):
            blksize = int(first.options.get("blksize", 512))
            window = int(first.options.get("windowsize", 1))
            self.send(Ack(0))
            first, _ = self.recv()
        chunks: list[bytes] = []
        expected, pkt, in_window = 1, first, 0
        while True:
            if isinstance(pkt, packet.Error):
                raise RuntimeError(f"server error {pkt.code}: {pkt.message}")
            assert isinstance(pkt, Data), pkt
            if pkt.block == expected & 0xFFFF:
                chunks.append(pkt.payload)
                expected += 1
                in_window += 1
                last = len(pkt.payload) < blksize
                if last or in_window == window:
                    self.send(Ack(pkt.block))
                    in_window = 0
                if last:
                    return b"".join(chunks)
            pkt, _ = self.recv()
