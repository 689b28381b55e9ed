"""One read transfer: OACK, DATA windows, ACKs, retransmission. Socket in, socket out.

A session owns a fresh UDP socket (RFC 1350: the server answers from a new
port, its "transfer ID") and talks to exactly one client address and port;
anything else that reaches that socket gets ERROR 5 and the transfer goes on.

It is a small state machine driven by the event loop's reader callback (no
task switch, no future and no timer per block: lockstep TFTP is one round trip
per block, so per-packet overhead is the throughput). One timer per session
checks a deadline that every good ACK pushes forward.

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
from tftp.packet import ErrorCode, Transfer

Address = tuple[str, int]
READ_AHEAD = 256 * 1024


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
    """What is sent: bytes in memory, or an open file read ahead in large chunks."""

    def __init__(self, data: bytes | None = None, fd: int | None = None, size: int = 0) -> None:
        self._data = data
        self._fd = fd
        self.size = len(data) if data is not None else size
        self._chunk = b""
        self._chunk_at = 0

    def read(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return self._data[offset : offset + length]
        assert self._fd is not None
        start = offset - self._chunk_at
        if start < 0 or start + length > len(self._chunk):
            self._chunk = os.pread(self._fd, max(READ_AHEAD, length), offset)
            self._chunk_at, start = offset, 0
        return self._chunk[start : start + length]

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
        self.retransmits = 0
        self.total = source.size // transfer.blksize + 1  # the last block is short, maybe empty
        self.first = 0 if transfer.oack else 1  # lowest block not yet acknowledged (0: OACK)
        self.last = self.first  # highest block of the window in flight
        self._wait = transfer.timeout
        self._deadline = 0.0
        self._sends = 0  # unanswered sends of the current window
        self._timer: asyncio.TimerHandle | None = None
        self._done: asyncio.Future[None] = self.loop.create_future()

    async def run(self) -> None:
        """Send until the last block is ACKed. Raises :class:`ClientError` or
        :class:`GaveUp`; cleans up when cancelled."""
        self.loop.add_reader(self.sock, self._readable)
        try:
            self._send_window()
            await self._done
        finally:
            self.loop.remove_reader(self.sock)
            if self._timer is not None:
                self._timer.cancel()

    # -- sending ----------------------------------------------------------------------------
    def _send(self, data: bytes, to: Address) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):  # a full buffer: as lost
            self.sock.sendto(data, to)

    def _send_window(self) -> None:
        """(Re)send the window starting at ``first``; arm the deadline."""
        if self.first == 0:
            self.last = 0
            self._send(packet.encode(packet.OptionAck(self.t.oack)), self.client)
        else:
            blksize = self.t.blksize
            self.last = min(self.first + self.t.windowsize - 1, self.total)
            for block in range(self.first, self.last + 1):
                payload = self.source.read((block - 1) * blksize, blksize)
                self._send(packet.encode_data(block, payload), self.client)
        self._sends += 1
        self._deadline = self.loop.time() + self._wait
        if self._timer is not None and self._timer.when() > self._deadline:
            self._timer.cancel()  # after a backoff: the next check comes sooner now
            self._timer = None
        if self._timer is None:
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        if self._done.done():
            return
        if self._deadline > self.loop.time():  # progress since it was armed: wait on
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            return
        if self._sends >= self.retry.attempts:
            what = "the OACK" if self.first == 0 else f"block {self.first}"
            self._finish(GaveUp(f"no ACK for {what} after {self._sends} sends"))
            return
        self.retransmits += 1
        self._wait = min(self._wait * 2, max(self.retry.max_wait, self.t.timeout))
        self._send_window()

    # -- receiving --------------------------------------------------------------------------
    def _readable(self) -> None:
        # one datagram per call: the selector is level-triggered, so a second one
        # calls again, and lockstep saves the recvfrom that would only say EAGAIN
        try:
            data, addr = self.sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # e.g. ICMP port unreachable: the client is gone; time will tell
            return
        if self._done.done():
            return
        if (addr[0], addr[1]) != self.client:
            self._send(packet.error(ErrorCode.UNKNOWN_TID, "unknown transfer ID"), addr)
        else:
            self._on_packet(data)

    def _on_packet(self, data: bytes) -> None:
        acked = packet.ack_block(data)
        if acked is None:
            try:
                pkt = packet.decode(data)
            except packet.PacketError:
                return  # garbage from the client: wait for a good ACK
            if isinstance(pkt, packet.Error):
                self._finish(ClientError(pkt.code, pkt.message))
            return  # DATA, a repeated RRQ, ...: not for a sender
        base = self.first - 1
        block = base + ((acked - base) & 0xFFFF)
        if not self.first <= block <= self.last:
            return  # base: a duplicate ACK; beyond the window: stale. Both ignored.
        if block == self.total:
            self._finish(None)
            return
        self.first, self._wait, self._sends = block + 1, self.t.timeout, 0
        self._send_window()

    def _finish(self, error: Exception | None) -> None:
        if self._done.done():
            return
        if error is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(error)
