"""The read-only TFTP server (asyncio): receive a request, resolve it, run a session.

Public entry points (what ``provisioner serve`` calls)::

    server = TftpServer(TftpConfig("0.0.0.0:69"), boot_files, tree=files.build_tree(...))
    await server.start()      # binds config.listen; raises ConfigError (port in use, ...)
    ...                       # server.address -> (host, port) actually bound
    await server.stop()       # closes the socket, cancels running transfers

``boot_files`` is anything with ``pxelinux_file(name, server_url) -> str | None``
(:class:`provisioner.service.Service`); it is called in a worker thread, once per
``pxelinux.cfg/`` request, with the base URL the box is told
(:func:`provisioner.bootnames.server_url`: ``config.server_ip``, else the local
address the request arrived on, with the HTTP port -- the same rule as over
HTTP, so a file has the same bytes both ways). ``None`` serves files only.

Rules: write requests are refused (ERROR 2); at most ``config.max_sessions``
transfers run at once (more get ERROR 0); every transfer has its own socket and
coroutine, so thousands can run (the descriptor limit is raised at start-up);
malformed packets get an ERROR or are dropped and never stop the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from provisioner import netio
from provisioner.bootnames import mac_from_config_name, server_url
from tftp import files, packet, routes
from tftp.packet import ErrorCode, Limits, PacketError, Request
from tftp.session import Address, ClientError, GaveUp, Retry, Session, Source

log = logging.getLogger("provisioner.tftp")

NETASCII_MAX = 16 * 1024 * 1024  # netascii is converted in memory


@dataclass(frozen=True, slots=True)
class TftpConfig:
    """The server's settings, as plain values (``provisioner.daemons`` fills them in)."""

    listen: str = "0.0.0.0:69"
    max_sessions: int = 1024
    max_blksize: int = 1468
    #: what generated files name as this server: ``server_ip`` ("" = the address
    #: each request arrived on) and the HTTP port
    server_ip: str = ""
    http_port: int = 8080


class BootFiles(Protocol):
    def pxelinux_file(self, name: str, server_url: str | None = None) -> str | None: ...


#: ``observer(kind, filename, client ip, mac or None)`` for every transfer that starts;
#: kind: "loader" (a boot loader or its module), "config" (pxelinux.cfg/...), "file"
#: (anything under <data_dir>/boot: kernel, initrd). Used for the node timeline.
Observer = Callable[[str, str, str, str | None], None]


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            log.warning("descriptor limit %d is low for %d TFTP sessions", new, wanted // 2)


class TftpServer:
    def __init__(
        self,
        config: TftpConfig,
        boot_files: BootFiles | None,
        *,
        tree: routes.Tree,
        retry: Retry | None = None,
        observer: Observer | None = None,
        mac_for: Callable[[str], str | None] | None = None,
    ) -> None:
        self.config = config
        self.boot_files = boot_files
        self.tree = tree
        self.limits = Limits(max_blksize=config.max_blksize)
        self.retry = retry or Retry()
        self.observer = observer
        #: ``mac_for(ip)``: the box behind a client address, when DHCP told us (logs)
        self.mac_for = mac_for
        self.max_sessions = config.max_sessions
        self.server_ip, self.http_port = config.server_ip, config.http_port
        self.sessions: dict[Address, tuple[Request, asyncio.Task[None]]] = {}
        self._sock: socket.socket | None = None
        self.address: Address = ("", 0)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        sock = netio.bind_udp("tftp", self.config.listen)
        self._sock, self.address = sock, sock.getsockname()[:2]
        _raise_fd_limit(2 * self.max_sessions + 64)
        asyncio.get_running_loop().add_reader(sock, self._on_readable)
        log.info(
            "TFTP listening on %s:%d, %d loaders, boot files in %s",
            *self.address,
            len(self.tree.loaders),
            self.tree.boot_root,
        )
        if self.tree.missing:
            log.info("TFTP loaders not found: %s", ", ".join(self.tree.missing))

    async def stop(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock)
            self._sock.close()
            self._sock = None
        tasks = [task for _, task in self.sessions.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- requests ----------------------------------------------------------------------------
    def _on_readable(self) -> None:
        assert self._sock is not None
        # drain a burst, then let the sessions run
        for data, client, spec_dst in netio.receive_burst(
            self._sock, packet.MAX_PACKET + 1, "TFTP"
        ):
            local = socket.inet_ntoa(spec_dst) if spec_dst else self.address[0]
            self._on_datagram(data, client, local)

    def _reply_error(self, to: Address, code: ErrorCode, message: str) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendto(packet.error(code, message), to)

    def _on_datagram(self, data: bytes, client: Address, local: str) -> None:
        try:
            pkt = packet.decode(data)
        except PacketError as exc:
            log.info("TFTP bad packet from %s:%d: %s", *client, exc.detail)
            if not data.startswith(b"\0\5"):  # never answer an ERROR
                self._reply_error(client, exc.error_code, exc.detail)
            return
        if not isinstance(pkt, Request):
            if not isinstance(pkt, packet.Error):
                self._reply_error(client, ErrorCode.UNKNOWN_TID, "unknown transfer ID")
            return
        if pkt.opcode is packet.Opcode.WRQ:
            log.info("TFTP WRQ %s from %s refused: read-only server", pkt.filename, client[0])
            self._reply_error(client, ErrorCode.ACCESS_VIOLATION, "read-only server")
            return
        old = self.sessions.get(client)
        if old is not None:
            if old[0] == pkt:
                return  # the client resent its request; the session is answering it
            old[1].cancel()  # the client has moved on
        elif len(self.sessions) >= self.max_sessions:
            log.warning(
                "TFTP RRQ %s from %s refused: %d sessions running",
                pkt.filename,
                client[0],
                len(self.sessions),
            )
            self._reply_error(client, ErrorCode.NOT_DEFINED, "server busy, try again later")
            return
        task = asyncio.get_running_loop().create_task(self._serve(pkt, client, local))
        self.sessions[client] = (pkt, task)
        task.add_done_callback(lambda t: self._forget(client, t))

    def _forget(self, client: Address, task: asyncio.Task[None]) -> None:
        entry = self.sessions.get(client)
        if entry is not None and entry[1] is task:
            del self.sessions[client]

    # -- one transfer --------------------------------------------------------------------
    async def _source(self, req: Request, local: str) -> Source | tuple[ErrorCode, str, str]:
        """What to send, or (error code, message for the client, reason for the log);
        ``local``: our address the request arrived on."""
        if req.mode not in packet.MODES:
            message = f"mode {req.mode!r} not supported"
            return ErrorCode.ILLEGAL_OPERATION, message, message
        route = files.resolve(self.tree, req.filename)
        if isinstance(route, routes.Denied):
            return ErrorCode.ACCESS_VIOLATION, "access violation", f"refused: {route.reason}"
        missing = ErrorCode.FILE_NOT_FOUND, "file not found", "file not found"
        if isinstance(route, routes.Missing):
            return missing
        if isinstance(route, routes.Generated):
            if self.boot_files is None:
                return missing
            url = server_url(self.server_ip, self.http_port, local_ip=local)
            text = await asyncio.get_running_loop().run_in_executor(
                None, self.boot_files.pxelinux_file, route.config, url
            )
            if text is None:
                return missing
            data = text.encode()
            return Source(packet.netascii(data) if req.mode == "netascii" else data)
        try:
            fd, size = files.open_file(route)
        except OSError as exc:
            return ErrorCode.FILE_NOT_FOUND, "file not found", f"cannot open: {exc}"
        source = Source(fd=fd, size=size)
        if req.mode == "netascii":
            try:
                if size > NETASCII_MAX:
                    message = "file too large for netascii, use octet"
                    return ErrorCode.ILLEGAL_OPERATION, message, message
                return Source(packet.netascii(source.read(0, size)))
            finally:
                source.close()
        return source

    def _observe(self, filename: str, ip: str, mac: str | None) -> None:
        if self.observer is None:
            return
        route = files.resolve(self.tree, filename)
        kind = ("config" if isinstance(route, routes.Generated)
                else "loader" if isinstance(route, routes.File) and route.root is None
                else "file")  # fmt: skip
        try:
            self.observer(kind, filename, ip, mac)
        except Exception:  # the timeline must never break a transfer
            log.exception("TFTP observer failed")

    async def _serve(self, req: Request, client: Address, local: str) -> None:
        ip = client[0]
        mac = mac_from_config_name(req.filename) or (self.mac_for(ip) if self.mac_for else None)
        try:
            got = await self._source(req, local)
        except Exception:  # the store failed (or a bug): this request fails, not the server
            log.exception("TFTP RRQ %s from %s failed", req.filename, ip)
            got = ErrorCode.NOT_DEFINED, "internal error", "internal error"
        if isinstance(got, tuple):
            code, message, reason = got
            log.info("TFTP RRQ %s from %s: %s", req.filename, ip, reason)
            self._reply_error(client, code, message)
            return
        transfer = packet.negotiate(req.options, got.size, self.limits)
        log.info(
            "TFTP RRQ %s from %s blksize %d windowsize %d%s%s",
            req.filename,
            ip,
            transfer.blksize,
            transfer.windowsize,
            " tsize" if "tsize" in transfer.oack else "",
            f" mac {mac}" if mac else "",
        )
        self._observe(req.filename, ip, mac)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        started = time.monotonic()
        try:
            sock.setblocking(False)
            sock.bind((local if local != "0.0.0.0" else "", 0))  # noqa: S104
            session = Session(sock, client, got, transfer, self.retry)
            await session.run()
            took = time.monotonic() - started
            log.info(
                "TFTP sent %s to %s: %d bytes in %.3f s (%.1f MiB/s, %d resent)",
                req.filename,
                ip,
                got.size,
                took,
                got.size / max(took, 1e-6) / 1048576,
                session.retransmits,
            )
        except ClientError as exc:
            level = logging.DEBUG if exc.code == ErrorCode.OPTION_REFUSED else logging.INFO
            log.log(level, "TFTP %s to %s ended by the client: %s", req.filename, ip, exc)
        except GaveUp as exc:
            log.warning("TFTP %s to %s abandoned: %s", req.filename, ip, exc)
        except OSError as exc:
            log.warning("TFTP %s to %s failed: %s", req.filename, ip, exc)
        finally:
            got.close()
            sock.close()
