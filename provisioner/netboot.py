"""The network-boot process: DHCP, TFTP and DNS daemons beside the HTTP server.

``provisioner serve`` forks one child for them before gunicorn starts: the
daemons are asyncio code with their own store connection, and keeping them out
of the gunicorn master keeps their sockets out of every HTTP worker. The child
reports ``ready`` (or the start-up error, e.g. "port 67 in use") through a
pipe, so ``serve`` fails fast with a clear message; it stops on SIGTERM; when
it dies, the pipe's end tells the parent, which then shuts HTTP down too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from provisioner import netio
from provisioner.bootnames import base_url
from provisioner.config import Settings
from provisioner.errors import ConfigError

log = logging.getLogger("provisioner.netboot")


def enabled(settings: Settings) -> bool:
    return bool(settings.tftp or settings.dns or settings.dhcp != "off")


def check(settings: Settings) -> Settings:
    """Refuse unsafe or incomplete network settings; fill in ``server_ip``.

    DHCP never runs unless both a mode and an interface are named."""
    if settings.dhcp != "off" and not settings.interface:
        raise ConfigError(
            "dhcp",
            f"--dhcp {settings.dhcp} needs --interface: the server "
            "answers DHCP only on an interface named explicitly",
        )
    if settings.interface:
        addr, _ = netio.interface_ipv4(settings.interface)
        if addr is None:
            raise ConfigError("interface", f"{settings.interface!r} has no IPv4 address")
        if not settings.server_ip:
            settings = settings.replace(server_ip=str(addr))
    if enabled(settings) and not settings.server_ip:
        # provisioner.bootnames.server_url: the same rule over HTTP and TFTP
        log.warning(
            "no --server-ip and no --interface: this server's base URL is not known at "
            "start-up; each boot file names the address its request arrived on "
            "(http://<that address>:%d over TFTP, the Host over HTTP). "
            "Boxes that reach this server by another address need --server-ip",
            settings.http_host_port[1],
        )
    elif enabled(settings):
        log.info(
            "boot files name this server as %s",
            base_url(settings.server_ip, settings.http_host_port[1]),
        )
    return settings


@dataclass
class NetbootProcess:
    pid: int
    done_fd: int  # read end; EOF when the child exits
    stopping: bool = False  # set by stop(): the exit is expected

    def alive(self) -> bool:
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False  # already reaped (e.g. by gunicorn's arbiter)
        return pid == 0

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.05)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)

    def wait_exit(self) -> None:
        """Block until the child is gone (its end of the pipe closes)."""
        with contextlib.suppress(OSError):
            while os.read(self.done_fd, 1):
                pass


Factory = Callable[[Settings], Awaitable[list[netio.Daemon]]]


def start(settings: Settings, factory: Factory, ready_timeout: float = 30.0) -> NetbootProcess:
    """Fork the daemons' process; return once they listen, or raise ConfigError."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(ready_r)
        os.close(done_r)
        code = 1
        try:
            code = asyncio.run(_child(settings, factory, ready_w))
        except BaseException:  # the child must never return into the parent's code
            log.exception("network-boot process failed")
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_w)
    message = _read_ready(ready_r, ready_timeout)
    os.close(ready_r)
    proc = NetbootProcess(pid, done_r)
    if message != "ready":
        proc.stop()
        raise ConfigError("serve", message or "the network-boot daemons did not start")
    return proc


def _read_ready(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    os.set_blocking(fd, False)
    while time.monotonic() < deadline and not data.endswith(b"\n"):
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


async def _child(settings: Settings, factory: Factory, ready_fd: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    daemons: list[netio.Daemon] = []
    error = ""
    try:
        for daemon in await factory(settings):
            await daemon.start()
            daemons.append(daemon)
    except ConfigError as exc:
        error = exc.message
    except OSError as exc:
        error = f"network-boot daemons: {exc}"
    if error:
        await _stop_all(daemons)
        os.write(ready_fd, f"{error}\n".encode())
        return 2
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)
    await stop.wait()
    await _stop_all(daemons)
    return 0


async def _stop_all(daemons: list[netio.Daemon]) -> None:
    for daemon in reversed(daemons):
        try:
            await daemon.stop()
        except Exception:  # stop the others regardless
            log.exception("stopping %s", type(daemon).__name__)
