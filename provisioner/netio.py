"""Sockets shared by the network daemons (DHCP, TFTP, DNS): what a daemon is,
listening sockets with start-up errors that read well, IP_PKTINFO (which of our
addresses a datagram came to, and answering from it), and an interface's IPv4
address. A library: plain values in, no settings, no store.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import socket
import struct
from collections.abc import Iterator
from ipaddress import IPv4Address
from typing import Protocol

from provisioner.domain import parse_host_port
from provisioner.errors import ConfigError

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux; Python < 3.14 lacks the name
RECEIVE_BUFFER = 4 * 1024 * 1024
SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B

log = logging.getLogger("provisioner.netio")


class Daemon(Protocol):
    """What the network-boot process runs: start (bind; raise ConfigError), stop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run(daemon: Daemon, stop: asyncio.Event) -> None:
    """Start ``daemon``, serve until ``stop`` is set, stop it."""
    await daemon.start()
    try:
        await stop.wait()
    finally:
        await daemon.stop()


def listen_error(name: str, host: str, port: int, exc: OSError) -> ConfigError:
    why = (
        "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        if exc.errno in (errno.EACCES, errno.EPERM)
        else exc.strerror or str(exc)
    )
    return ConfigError(name, f"cannot listen on {host}:{port}: {why}")


def bind_udp(name: str, address: str) -> socket.socket:
    """A non-blocking UDP socket on ``address`` (HOST:PORT) that reports, per
    datagram, which of our addresses it was sent to (IP_PKTINFO)."""
    host, port = parse_host_port(address, name)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise listen_error(name, host, port, exc) from None
    sock.setblocking(False)
    _grow_receive_buffer(sock, RECEIVE_BUFFER)
    return sock


def _grow_receive_buffer(sock: socket.socket, size: int) -> None:
    """Room for a burst of requests (a rack powering on): SO_RCVBUFFORCE passes
    net.core.rmem_max when we may (root), else SO_RCVBUF up to that limit."""
    force = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def local_address(ancdata: list[tuple[int, int, bytes]]) -> bytes:
    """Our address a datagram was sent to (``in_pktinfo.ipi_spec_dst``), or b""."""
    for level, kind, value in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
            return value[4:8]
    return b""


def receive_burst(
    sock: socket.socket, size: int, name: str, burst: int = 64
) -> Iterator[tuple[bytes, tuple[str, int], bytes]]:
    """Up to ``burst`` datagrams waiting on ``sock`` (then the loop lets others
    run): ``(data, (client ip, port), our address it was sent to or b"")``.
    Stops quietly when nothing is waiting or the socket fails (logged as ``name``)."""
    for _ in range(burst):
        try:
            data, anc, _flags, addr = sock.recvmsg(size, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("%s receive failed: %s", name, exc)
            return
        yield data, (addr[0], addr[1]), local_address(anc)


def send_from(sock: socket.socket, data: bytes, to: tuple[str, int], local: bytes) -> None:
    """Send ``data`` with ``local`` as source address (so a server bound to 0.0.0.0
    answers from the address it was asked on). Errors are dropped: UDP."""
    anc = []
    if local:
        anc = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, local, bytes(4)))]
    with contextlib.suppress(OSError):
        sock.sendmsg([data], anc, 0, to)


def interface_ipv4(iface: str) -> tuple[IPv4Address | None, IPv4Address | None]:
    """The interface's first IPv4 address and netmask, (None, None) when it has
    none; ConfigError when there is no such interface."""
    if not iface or len(iface.encode()) > 15 or "/" in iface:
        raise ConfigError("interface", f"{iface!r} is not an interface name")
    request = struct.pack("256s", iface.encode())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            addr = fcntl.ioctl(s.fileno(), SIOCGIFADDR, request)[20:24]
            mask = fcntl.ioctl(s.fileno(), SIOCGIFNETMASK, request)[20:24]
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise ConfigError("interface", f"no interface named {iface!r}") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                return None, None
            raise
    return IPv4Address(addr), IPv4Address(mask)
