"""The DNS daemon: sockets in, :func:`~provisioner.dns.wire.get_reply`, sockets out.

UDP and TCP on ``config.listen``. Records come from a :data:`RecordSource`
that is read in a worker thread into a :class:`~provisioner.dns.zone.Snapshot`
at start-up and again when a query finds the snapshot older than ``refresh``
seconds (the query is answered from the current one meanwhile), so a query
never waits for the database.

Forwarding (only with ``config.upstream``, and only for clients with a
private, loopback or link-local address): each query goes out from a new
socket connected to the upstream (a random source port; the kernel delivers
only datagrams from the upstream's address and port, and we check both again)
with a fresh random ID; a reply counts only if its ID and question match.
No good reply within ``upstream_timeout`` seconds: SERVFAIL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from provisioner import netio
from provisioner.dns.records import RecordSource
from provisioner.dns.wire import Forward, check_upstream, get_reply, servfail
from provisioner.dns.zone import Snapshot, build_snapshot
from provisioner.domain import parse_host_port

log = logging.getLogger("provisioner.dns")

MAX_FORWARDS = 256
MAX_TCP = 64
TCP_IDLE = 10.0


@dataclass(frozen=True, slots=True)
class DnsConfig:
    """The server's settings, as plain values (``provisioner.daemons`` fills them in)."""

    listen: str = "0.0.0.0:53"
    domain: str = "lan"
    ttl: int = 60
    #: forward other names to this HOST:PORT ("" = never forward)
    upstream: str = ""
    #: the address of ``ns.<domain>`` (this server), if known
    ns_address: str | None = None


class DnsServer:
    def __init__(
        self,
        config: DnsConfig,
        records: RecordSource,
        *,
        refresh: float = 2.0,
        upstream_timeout: float = 2.0,
    ) -> None:
        self.config = config
        self.records = records
        self.refresh = refresh
        self.upstream_timeout = upstream_timeout
        self.upstream = (
            parse_host_port(config.upstream, "dns_upstream") if config.upstream else None
        )
        self.snapshot = build_snapshot(config.domain, config.ttl, ())
        self.address: tuple[str, int] = ("", 0)
        self._loaded_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_clients = 0

    # -- records -------------------------------------------------------------------------------
    def _build(self) -> Snapshot:
        old = self.snapshot
        snap = build_snapshot(
            self.config.domain,
            self.config.ttl,
            self.records(),
            ns_address=self.config.ns_address,
            serial=old.serial,
        )
        if (snap.names, snap.ns_address) != (old.names, old.ns_address):  # the SOA serial moves
            snap = dataclasses.replace(snap, serial=max(old.serial + 1, int(time.time())))
        return snap

    async def _reload(self) -> None:
        try:
            self.snapshot = await asyncio.get_running_loop().run_in_executor(None, self._build)
        except Exception:  # the store failed: keep answering from the last snapshot
            log.exception("DNS could not read its records; keeping the previous ones")
        self._loaded_at = time.monotonic()

    def _maybe_reload(self) -> None:
        stale = time.monotonic() - self._loaded_at > self.refresh
        if stale and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.get_running_loop().create_task(self._reload())

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        sock = netio.bind_udp("dns", self.config.listen)
        host, port = sock.getsockname()[:2]
        try:
            self._tcp = await asyncio.start_server(
                self._on_tcp, host, port, reuse_address=True, limit=65536 + 2
            )
        except OSError as exc:
            sock.close()
            raise netio.listen_error("dns", host, port, exc) from None
        self._udp, self.address = sock, (host, port)
        await self._reload()
        asyncio.get_running_loop().add_reader(sock, self._on_udp)
        log.info(
            "DNS on %s:%d for %s (%d names)%s",
            host,
            port,
            self.snapshot.domain,
            len(self.snapshot.names),
            f", forwarding to {self.config.upstream}" if self.upstream else "",
        )

    async def stop(self) -> None:
        if self._udp is not None:
            asyncio.get_running_loop().remove_reader(self._udp)
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        tasks = [*self._tasks, *([self._refreshing] if self._refreshing else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- queries ----------------------------------------------------------------------------------
    def _may_forward(self, ip: str) -> bool:
        if self.upstream is None:
            return False
        addr = ipaddress.ip_address(ip)
        return addr.is_private or addr.is_loopback or addr.is_link_local

    def _answer(self, data: bytes, client: str, tcp: bool) -> bytes | Forward | None:
        self._maybe_reload()
        try:
            return get_reply(data, self.snapshot, can_forward=self._may_forward(client), tcp=tcp)
        except Exception:  # a bug of ours: log it, drop the query, keep serving
            log.exception("DNS failed to answer a query from %s", client)
            return None

    def _on_udp(self) -> None:
        assert self._udp is not None
        for data, client, pktinfo in netio.receive_burst(self._udp, 4096, "DNS"):
            reply = self._answer(data, client[0], tcp=False)
            if isinstance(reply, Forward):
                if len(self._tasks) >= MAX_FORWARDS:
                    self._send_udp(servfail(reply), client, pktinfo)
                else:
                    self._spawn(self._forward_udp(reply, client, pktinfo))
            elif reply is not None:
                self._send_udp(reply, client, pktinfo)

    def _send_udp(self, reply: bytes, client: tuple[str, int], local: bytes) -> None:
        if self._udp is not None:
            netio.send_from(self._udp, reply, client, local)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward_udp(self, fwd: Forward, client: tuple[str, int], pktinfo: bytes) -> None:
        self._send_udp(await self.forward(fwd), client, pktinfo)

    async def forward(self, fwd: Forward) -> bytes:
        """Ask the upstream; its checked reply, or SERVFAIL."""
        assert self.upstream is not None
        loop = asyncio.get_running_loop()
        sent_id = secrets.randbelow(65536)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(self.upstream)
            await loop.sock_sendall(sock, sent_id.to_bytes(2, "big") + fwd.data[2:])
            async with asyncio.timeout(self.upstream_timeout):
                while True:
                    data, addr = await loop.sock_recvfrom(sock, 65535)
                    if (addr[0], addr[1]) != self.upstream:
                        continue
                    checked = check_upstream(data, fwd, sent_id)
                    if checked is not None:
                        return checked
                    log.info("DNS ignored a reply for %s that did not match", fwd.qname)
        except TimeoutError:
            log.warning("DNS upstream %s did not answer %s", self.config.upstream, fwd.qname)
        except OSError as exc:
            log.warning("DNS upstream %s failed: %s", self.config.upstream, exc)
        finally:
            sock.close()
        return servfail(fwd)

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self._tcp_clients += 1
        try:
            if self._tcp_clients > MAX_TCP:
                return
            while True:
                async with asyncio.timeout(TCP_IDLE):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    data = await reader.readexactly(size)
                reply = self._answer(data, peer[0], tcp=True)
                if isinstance(reply, Forward):
                    reply = await self.forward(reply)
                if reply is None:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            self._tcp_clients -= 1
            writer.close()
