"""Plumbing shared by the UDP daemons (TFTP, DNS): listening sockets, start-up
errors that read well, and running one daemon on its own (``python -m ...``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import struct
from collections.abc import Mapping
from typing import Protocol

from provisioner.config import Settings, load_settings, parse_host_port
from provisioner.errors import ConfigError

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux; Python < 3.14 lacks the name
RECEIVE_BUFFER = 4 * 1024 * 1024


class Daemon(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


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


def send_from(sock: socket.socket, data: bytes, to: tuple[str, int], local: bytes) -> None:
    """Send ``data`` with ``local`` as source address (so a server bound to 0.0.0.0
    answers from the address it was asked on). Errors are dropped: UDP."""
    anc = []
    if local:
        anc = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, local, bytes(4)))]
    with contextlib.suppress(OSError):
        sock.sendmsg([data], anc, 0, to)


async def run(daemon: Daemon, stop: asyncio.Event) -> None:
    """Start ``daemon``, serve until ``stop`` is set, stop it."""
    await daemon.start()
    try:
        await stop.wait()
    finally:
        await daemon.stop()


async def _until_signal(daemon: Daemon) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(daemon, stop)


def run_standalone(daemon: Daemon) -> None:
    """Run until SIGINT/SIGTERM (the ``python -m`` entry points)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_until_signal(daemon))


def standalone_settings(
    config_file: str | None, overrides: Mapping[str, object], listen: str, default: str
) -> Settings:
    """Settings for a ``python -m`` daemon: the usual layers, ``listen`` (a setting
    name) defaulting to ``default``, and logging configured."""
    settings = load_settings(os.environ, config_file, overrides)
    if not getattr(settings, listen):
        settings = settings.replace(**{listen: default})
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings
