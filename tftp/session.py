"""One read transfer: OACK, DATA windows, ACKs, retransmission. Socket in, socket out.

A session owns a fresh UDP socket (RFC 1350: the server answers from a new
port, its "transfer ID") and talks to exactly one client address and port;
anything else that reaches that socket gets ERROR 5 and the transfer goes on.

Block numbers are 16 bits on the wire and wrap from 65535 to 0 (what tftp-hpa,
curl, atftp and busybox expect); the session counts blocks with Python ints and
maps each ACK back to the one block of the current window it can mean.
Duplicate ACKs (of a block already acknowledged) are ignored: resending on them
is the "sorcerer's apprentice" bug (RFC 1123 4.2.3.1). Only a timeout resends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass

from tftp import packet
from tftp.packet import Ack, Error, ErrorCode, PacketError, Transfer

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Retry:
    """Retransmission: the first wait is the transfer's timeout, then doubles
    (capped at ``max_wait``); after ``attempts`` unanswered sends we give up."""

    attempts: int = 6
    max_wait: float = 8.0


class ClientError(Exception):
    """The client sent ERROR: the transfer ends (not a failure of ours)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"client error {code}: {message}")
        self.code = code
        self.message = message


class GaveUp(Exception):
    """The client stopped answering."""


class Source:
    """What is sent: bytes in memory or an open file read with ``pread``."""

    def __init__(self, data: bytes | None = None, fd: int | None = None, size: int = 0) -> None:
        self._data = data
        self._fd = fd
        self.size = len(data) if data is not None else size

    def read(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return self._data[offset : offset + length]
        assert self._fd is not None
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Session:
    def __init__(
        self,
        sock: socket.socket,
        client: Address,
        source: Source,
        transfer: Transfer,
        retry: Retry,
    ) -> None:
        self.sock = sock
        self.client = client
        self.source = source
        self.t = transfer
        self.retry = retry
        self.loop = asyncio.get_running_loop()
        self.sent_bytes = 0
        self.retransmits = 0

    # -- socket plumbing ---------------------------------------------------------------
    async def _send(self, data: bytes, to: Address | None = None) -> None:
        try:
            self.sock.sendto(data, to or self.client)
        except BlockingIOError:
            await self.loop.sock_sendto(self.sock, data, to or self.client)

    async def _recv(self) -> tuple[bytes, Address]:
        try:
            data, addr = self.sock.recvfrom(2048)
        except BlockingIOError:
            data, addr = await self.loop.sock_recvfrom(self.sock, 2048)
        return data, (addr[0], addr[1])

    def _stranger(self, addr: Address) -> None:
        """RFC 1350: a packet from a wrong TID gets ERROR 5; the transfer goes on."""
        with contextlib.suppress(OSError):
            self.sock.sendto(packet.error(ErrorCode.UNKNOWN_TID, "unknown transfer ID"), addr)

    async def _wait_ack(self, first: int, last: int, wait: float) -> int | None:
        """The absolute block number acknowledged in ``first - 1 .. last`` (excluding
        ``first - 1``, a duplicate), or None after ``wait`` seconds."""
        try:
            async with asyncio.timeout(wait):
                while True:
                    data, addr = await self._recv()
                    if addr != self.client:
                        self._stranger(addr)
                        continue
                    try:
                        pkt = packet.decode(data)
                    except PacketError:
                        continue  # garbage from the client: wait for a good ACK
                    if isinstance(pkt, Error):
                        raise ClientError(pkt.code, pkt.message)
                    if not isinstance(pkt, Ack):
                        continue
                    block = first - 1 + ((pkt.block - (first - 1)) & 0xFFFF)
                    if first <= block <= last:
                        return block
                    # first - 1: a duplicate; beyond the window: stale. Both ignored.
        except TimeoutError:
            return None

    def _next_wait(self, wait: float) -> float:
        return min(wait * 2, max(self.retry.max_wait, self.t.timeout))

    # -- the protocol ----------------------------------------------------------------
    async def run(self) -> None:
        """OACK (if any options were granted), then the data. Raises
        :class:`ClientError` or :class:`GaveUp`; returns when the last block is ACKed."""
        if self.t.oack:
            await self._exchange(packet.encode(packet.OptionAck(self.t.oack)))
        await self._transfer()

    async def _exchange(self, oack: bytes) -> None:
        wait = self.t.timeout
        for attempt in range(self.retry.attempts):
            if attempt:
                self.retransmits += 1
            await self._send(oack)
            if await self._wait_ack(0, 0, wait) == 0:
                return
            wait = self._next_wait(wait)
        raise GaveUp("no ACK for the OACK")

    async def _transfer(self) -> None:
        blksize, size = self.t.blksize, self.source.size
        total = size // blksize + 1  # the last block is short, maybe empty
        first = 1  # lowest block not yet acknowledged
        wait, attempts = self.t.timeout, 0
        while first <= total:
            last = min(first + self.t.windowsize - 1, total)
            for block in range(first, last + 1):
                payload = self.source.read((block - 1) * blksize, blksize)
                await self._send(packet.encode(packet.Data(block, payload)))
                self.sent_bytes += len(payload)
            acked = await self._wait_ack(first, last, wait)
            if acked is None:
                attempts += 1
                if attempts >= self.retry.attempts:
                    raise GaveUp(f"no ACK for block {first} after {attempts} sends")
                self.retransmits += 1
                wait = self._next_wait(wait)
                continue
            first, wait, attempts = acked + 1, self.t.timeout, 0
