"""The DHCP daemon: receive a datagram, call the policy, send what it returns.

Built by :func:`provisioner.daemons.dhcp_server` from the settings::

    server = DhcpServer(interface, configure, backend)
    await server.start()     # ConfigError: DHCP off, no interface, port in use, ...
    ...                      # serves until
    await server.stop()      # closes the sockets, commits the last changes

``configure()`` returns the :class:`~provisioner.dhcp.config.DhcpConfig` (it checks
the safety rule and reads the interface's address); ``backend`` is the narrow
:class:`~provisioner.dhcp.backend.DhcpBackend` to the known nodes and the leases.

Safety: nothing is bound unless a mode (``proxy``/``full``/``observe``) AND an
interface are named (``configure`` raises ConfigError otherwise); every socket
is bound to that interface with SO_BINDTODEVICE.

Other servers: replies heard on the client port 68 go to a
:class:`~provisioner.dhcp.watch.Watch` (and from it, each flush, to the backend).
``observe`` mode binds 67 (client requests: which clients netboot) and 68 and
never sends; ``proxy``/``full`` bind 67 and 4011 to serve, and 68 if they can
(a local DHCP client may hold it: then they do without), to warn when another
server answers network-boot clients.

Robustness: a packet the codec cannot decode is dropped and logged (rate
limited); an unexpected error while handling one packet is logged with its
traceback and the daemon goes on with the next packet.

State: the known nodes come from the backend in a worker thread when its stamp
changes (polled every ``refresh`` seconds). Leases are durable before the ACK:
an ACK that grants a lease waits for the group commit (:mod:`.commit`) that
writes it, gathering the ACKs of ``commit_window`` seconds into one transaction;
OFFERs, NAKs and the PXE port's ACKs go out at once (they grant nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from provisioner import netio
from provisioner.dhcp.backend import DhcpBackend
from provisioner.dhcp.commit import GroupCommit
from provisioner.dhcp.config import DhcpConfig
from provisioner.dhcp.leases import Snapshot
from provisioner.dhcp.packet import ZERO, DhcpPacketError, Packet, parse
from provisioner.dhcp.policy import (
    CLIENT_PORT,
    PXE_PORT,
    SERVER_PORT,
    Reply,
    State,
    decide,
    describe_reply,
    describe_request,
)
from provisioner.dhcp.subnets import OncePer, describe_pools, lease_table, snapshot
from provisioner.dhcp.watch import Watch
from provisioner.errors import ConfigError

log = logging.getLogger("provisioner.dhcp")

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
RECV_BUFFER = 1 << 20
#: malformed packets logged per minute before the log goes quiet
DROP_LOG_LIMIT = 20


@contextlib.contextmanager
def _explained(setting: str, denied: str, known: int, known_why: str) -> Iterator[None]:
    """Turn "permission denied" and one expected errno into a ConfigError naming
    ``setting``; anything else goes up as it is."""
    try:
        yield
    except PermissionError:
        raise ConfigError(setting, denied) from None
    except OSError as exc:
        if exc.errno == known:
            raise ConfigError(setting, known_why) from None
        raise


def open_socket(iface: str, port: int) -> socket.socket:
    """UDP ``0.0.0.0:port`` bound to ``iface`` only; ConfigError says why not."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        denied = f"binding to {iface} needs root (or CAP_NET_RAW)"
        with _explained("interface", denied, errno.ENODEV, f"no interface named {iface!r}"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        denied = f"UDP port {port} needs root (or CAP_NET_BIND_SERVICE)"
        in_use = f"UDP port {port} on {iface} is in use (another DHCP server?)"
        with _explained("dhcp", denied, errno.EADDRINUSE, in_use):
            sock.bind(("0.0.0.0", port))  # noqa: S104 - scoped by SO_BINDTODEVICE above
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, server: DhcpServer, port: int) -> None:
        self.server = server
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.server.datagram(data, (str(addr[0]), addr[1]), self)

    def error_received(self, exc: Exception) -> None:
        log.warning("DHCP send/receive error on port %d: %s", self.port, exc)


class DhcpServer:
    """The daemon; see the module docstring for how to run it."""

    def __init__(
        self,
        interface: str,
        configure: Callable[[], DhcpConfig],
        backend: DhcpBackend,
        *,
        refresh: float = 2.0,
        commit_window: float = 0.005,
        clock: Callable[[], float] = time.time,
        observer: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.interface = interface
        self.configure = configure
        self.backend = backend
        #: ``observer(mac, ip or None)`` when a known node is answered (the node
        #: timeline); called in a worker thread, never on the packet path.
        self.observer = observer
        self.refresh = refresh
        self.commit_window = commit_window
        self._commit: GroupCommit | None = None
        self.clock = clock
        self.state: State | None = None
        self.watch: Watch | None = None
        self._endpoints: list[_Endpoint] = []
        self._task: asyncio.Task[None] | None = None
        self._stamp = ""
        self._drops = 0
        self._drop_window = 0.0
        #: warnings with a ``once_per`` key (relays from no configured subnet)
        self._once = OncePer()

    @property
    def config(self) -> DhcpConfig:
        assert self.state is not None, "not started"
        return self.state.cfg

    async def start(self) -> None:
        cfg = self.configure()
        iface = self.interface
        loop = asyncio.get_running_loop()
        leases = await loop.run_in_executor(None, self.backend.load_leases) if cfg.full else []
        self._stamp = await loop.run_in_executor(None, self.backend.stamp)
        snap = await loop.run_in_executor(None, self._snapshot, cfg)
        self.state = State(cfg, snap, lease_table(cfg, leases))
        known = await loop.run_in_executor(None, self.backend.dhcp_servers)
        self.watch = Watch(cfg.mode, [str(cfg.server_ip)], known)
        self.watch.warn_known()
        observing = cfg.mode == "observe"
        ports = (SERVER_PORT, CLIENT_PORT) if observing else (SERVER_PORT, PXE_PORT)
        for port in ports:
            await self._listen(loop, port)
        if not observing:
            try:
                await self._listen(loop, CLIENT_PORT)
            except ConfigError as exc:
                log.warning("DHCP: not watching for other servers: %s", exc.message)
        server_port = self._endpoints[0]  # SERVER_PORT: listened on first
        self._commit = GroupCommit(
            self.state.table,
            self.backend.save_leases,
            lambda reply: self._send(server_port, reply),
            window=self.commit_window,
        )
        self._commit.start()
        self._task = loop.create_task(self._housekeeping(), name="dhcp-housekeeping")
        log.info(
            "DHCP %s on %s (server %s, ports %s)%s, %d known nodes, %d leases, %d other servers",
            cfg.mode,
            iface,
            cfg.server_ip,
            ", ".join(str(e.port) for e in self._endpoints),
            describe_pools(cfg),
            len(snap.nodes),
            len(leases),
            len(known),
        )

    async def _listen(self, loop: asyncio.AbstractEventLoop, port: int) -> None:
        sock = open_socket(self.interface, port)
        try:
            _, endpoint = await loop.create_datagram_endpoint(
                lambda: _Endpoint(self, port),
                sock=sock,
            )
        except BaseException:
            sock.close()
            await self._close()
            raise
        self._endpoints.append(endpoint)

    def _snapshot(self, cfg: DhcpConfig) -> Snapshot:
        snap = snapshot(cfg, self.backend.nodes())
        for problem in snap.problems:
            log.warning("DHCP reservation ignored: %s", problem)
        return snap

    async def stop(self) -> None:
        await netio.cancel(self._task)
        self._task = None
        if self._commit is not None:
            await self._commit.stop()  # before the sockets close: its ACKs still go out
            self._commit = None
        await self._close()
        if self.state is not None:
            await self._write_servers()
        log.info("DHCP stopped")

    async def _close(self) -> None:
        for endpoint in self._endpoints:
            if endpoint.transport is not None:
                endpoint.transport.close()
        self._endpoints.clear()
        await asyncio.sleep(0)  # let the transports finish closing

    # -- the packet path ------------------------------------------------------------------------
    def datagram(self, data: bytes, source: tuple[str, int], endpoint: _Endpoint) -> None:
        state, watch = self.state, self.watch
        if state is None or watch is None:
            return
        if endpoint.port == CLIENT_PORT and source[0] in watch.own:
            return  # our own broadcast reply, looped back: not worth parsing again
        try:
            request = parse(data)
            if endpoint.port == CLIENT_PORT:
                watch.reply(request, source[0], self.clock())
                return
            watch.request(request, self.clock())
            if state.cfg.mode == "observe":
                return
            result = decide(request, endpoint.port, source, state, self.clock())
            state.table.apply(result.change)
            commit = self._commit
            if commit is not None and result.writes:
                commit.changed()
            if result.reply is not None:
                if not result.durable:
                    self._send(endpoint, result.reply)
                elif commit is not None:  # None: stopping, the ACK is not sent
                    commit.after_commit(result.reply)  # it waits for its lease
                if log.isEnabledFor(logging.INFO):
                    log.info("%s", describe_request(request))
                    log.info("%s", describe_reply(result.reply))
                if self.observer is not None and request.mac in state.snap.nodes:
                    self._observe(request.mac, result.reply.packet)
            elif result.warn or log.isEnabledFor(logging.DEBUG):
                # what we do not answer (in proxy mode: most of a site's DHCP
                # traffic) is not worth an INFO line
                warn = result.warn and (
                    result.once_per is None or self._once.allow(result.once_per, time.monotonic())
                )
                if warn or log.isEnabledFor(logging.DEBUG):
                    level = logging.WARNING if warn else logging.DEBUG
                    log.log(level, "%s: %s", describe_request(request), result.why)
        except DhcpPacketError as exc:
            self._dropped(source, exc)
        except Exception:
            log.exception("DHCP: error handling a packet from %s:%d; dropped", *source)

    @staticmethod
    def _send(endpoint: _Endpoint, reply: Reply) -> None:
        if endpoint.transport is not None:  # None: closed while a commit ran
            endpoint.transport.sendto(reply.pack(), reply.to)

    def _observe(self, mac: str, reply: Packet) -> None:
        observer = self.observer
        assert observer is not None
        ip = reply.yiaddr if reply.yiaddr != ZERO else reply.ciaddr
        addr = None if ip == ZERO else str(ip)
        asyncio.get_running_loop().run_in_executor(None, observer, mac, addr)

    def _dropped(self, source: tuple[str, int], exc: DhcpPacketError) -> None:
        now = time.monotonic()
        if now - self._drop_window > 60:
            if self._drops > DROP_LOG_LIMIT:
                log.warning("DHCP: %d more malformed packets dropped", self._drops - DROP_LOG_LIMIT)
            self._drop_window, self._drops = now, 0
        self._drops += 1
        if self._drops <= DROP_LOG_LIMIT:
            log.warning("DHCP: dropped a malformed packet from %s:%d: %s", *source, exc.detail)

    # -- background work ----------------------------------------------------------------------
    async def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.refresh
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._write_servers()
                if loop.time() >= next_refresh:
                    next_refresh = loop.time() + self.refresh
                    await self._reload(loop)
            except Exception:
                log.exception("DHCP: housekeeping failed; will retry")

    async def _reload(self, loop: asyncio.AbstractEventLoop) -> None:
        state = self.state
        assert state is not None
        state.table.expire_holds(self.clock())
        stamp = await loop.run_in_executor(None, self.backend.stamp)
        if stamp == self._stamp:
            return
        snap = await loop.run_in_executor(None, self._snapshot, state.cfg)
        self._stamp = stamp
        self.state = State(state.cfg, snap, state.table)
        log.info("DHCP: reloaded %d known nodes", len(snap.nodes))

    async def _write_servers(self) -> None:
        if self.watch is None:
            return
        taken = self.watch.take()
        if taken:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self.backend.record_dhcp_servers, taken)
