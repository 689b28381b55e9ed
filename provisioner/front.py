"""The HTTP front: a gunicorn worker whose event loop, not a thread, waits for a
request to arrive (docs/architecture.md, "The HTTP front").

gunicorn's gthread worker hands every accepted connection to a thread, which then
blocks reading the request head: about as many slow clients as threads stop the
server. This worker keeps a connection on its selector loop until
:class:`provisioner.httphead.HeadReader` says the head (and a small body) is
complete, then gives the thread the connection with those bytes already read. The
loop also:

* closes a connection whose head is not complete ``http_header_timeout`` seconds
  after it was accepted (or after its keep-alive request started), with a 408;
* refuses a connection past ``http_max_per_client`` from one address (429, closed);
* answers a malformed head with a JSON 4xx, never a thread;
* puts every socket a thread works on under ``http_body_timeout`` (a body or a
  response that stalls that long ends the request, as nginx's client_body_timeout
  and send_timeout do);
* closes a finished ``Connection: close`` answer by half-closing and draining on
  the loop (lingering close), where gunicorn would block its loop up to 2 s.

Idle keep-alive connections wait on the loop as in gthread; responses, sendfile
included, are gunicorn's own.
"""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker

from provisioner.config import Settings
from provisioner.httphead import HeadLimits, HeadReader, More, Refuse

#: how long a closed answer's socket drains what the client still sends (gunicorn's 2 s)
LINGER = 2.0
#: connections accepted per wake-up of the loop
ACCEPT_BATCH = 64
#: addresses whose refusals are counted for the log (then the count starts afresh)
REFUSALS_KEPT = 4096
REASONS = {
    400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 414: "URI Too Long",
    417: "Expectation Failed", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented",
}  # fmt: skip
#: gunicorn's parse errors that are not a plain 400
_PARSE_STATUS: dict[type[BaseException], tuple[int, str]] = {
    http_errors.LimitRequestLine: (414, "uri_too_long"),
    http_errors.LimitRequestHeaders: (431, "header_too_large"),
    http_errors.UnsupportedTransferCoding: (501, "not_implemented"),
    http_errors.ExpectationFailed: (417, "expectation_failed"),
    http_errors.ForbiddenProxyRequest: (403, "forbidden"),
    http_errors.ConfigurationProblem: (500, "internal"),
    http_errors.InvalidResponseHeader: (500, "internal"),
    http_errors.InvalidResponseHeaderName: (500, "internal"),
}


@dataclass(frozen=True)
class FrontLimits:
    header_timeout: float
    body_timeout: float
    max_per_client: int
    head: HeadLimits

    @classmethod
    def of(cls, settings: Settings) -> FrontLimits:
        return cls(
            header_timeout=settings.http_header_timeout,
            body_timeout=settings.http_body_timeout,
            max_per_client=settings.http_max_per_client,
            head=HeadLimits(small_body=settings.http_small_body),
        )


def error_bytes(status: int, code: str, message: str, field: str = "") -> bytes:
    """A complete ``Connection: close`` answer with the API's JSON error body."""
    error: dict[str, str] = {"code": code, "message": message}
    if field:
        error["field"] = field
    body = json.dumps({"error": error}).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Conn(TConn):  # type: ignore[misc]
    """gunicorn's connection, plus what the loop keeps while the head arrives and a
    callback that frees its place in the per-address count once it is closed."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any,
                 release: Callable[[], None]) -> None:  # fmt: skip
        super().__init__(cfg, sock, client, server)
        self.release: Callable[[], None] | None = release
        self.reader: HeadReader | None = None
        self.deadline = 0.0

    def close(self, graceful: bool = False) -> None:
        try:
            super().close(graceful)
        finally:
            release, self.release = self.release, None
            if release is not None:
                release()


class FrontWorker(ThreadWorker):  # type: ignore[misc]
    """gthread with the head read on the loop (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = FrontLimits.of(self.app.settings)
        self.per_client: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()  # for the log only; cleared when it fills
        self.reading: OrderedDict[_Conn, None] = OrderedDict()  # by deadline: one timeout
        self.lingering: OrderedDict[_Conn, None] = OrderedDict()

    # -- accepting --------------------------------------------------------------------
    def accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                    return
                raise
            ip = addr[0] if isinstance(addr, tuple) else ""
            if self.per_client[ip] >= self.limits.max_per_client:
                self._log_refusal(ip)
                message = f"{self.per_client[ip]} connections from {ip} are open; close some"
                _send_now(sock, error_bytes(429, "too_many_connections", message))
                _close_now(sock)
                continue
            self.per_client[ip] += 1
            self.nr_conns += 1
            conn = _Conn(self.cfg, sock, addr, listener.getsockname(), partial(self._release, ip))
            self._read_head(conn, b"")
            if self.nr_conns >= self.worker_connections:
                return

    def _log_refusal(self, ip: str) -> None:
        """Log the 1st, 10th, 100th, ... refusal of an address, not a line per attempt."""
        if len(self.refusals) >= REFUSALS_KEPT:
            self.refusals.clear()
        self.refusals[ip] += 1
        n = self.refusals[ip]
        if str(n).rstrip("0") == "1":
            self.log.warning(
                "refused %d connection(s) from %s: %d open (http_max_per_client)",
                n, ip, self.per_client[ip],
            )  # fmt: skip

    def _release(self, ip: str) -> None:
        self.per_client[ip] -= 1
        if self.per_client[ip] <= 0:
            del self.per_client[ip]

    # -- the head, on the loop ------------------------------------------------------------
    def _read_head(self, conn: _Conn, already: bytes) -> None:
        conn.reader = HeadReader(self.limits.head)
        conn.deadline = time.monotonic() + self.limits.header_timeout
        self.reading[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, conn))
        if already:
            self._feed(conn, already)

    def _on_head_bytes(self, conn: _Conn, _sock: object) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._stop_reading(conn)
            self._close(conn)
            return
        self._feed(conn, data)

    def _feed(self, conn: _Conn, data: bytes) -> None:
        assert conn.reader is not None
        verdict = conn.reader.feed(data)
        if isinstance(verdict, More):
            return
        self._stop_reading(conn)
        if isinstance(verdict, Refuse):
            self.log.warning("invalid request from %s: %s", _ip(conn), verdict.message)
            error = error_bytes(verdict.status, verdict.code, verdict.message, verdict.field)
            _send_now(conn.sock, error)
            self._linger(conn)
            return
        buffered, conn.reader = conn.reader.buffered, None
        conn.init()  # blocking socket, the HTTP/1.1 parser (a kept-alive one is kept)
        conn.parser.unreader.unread(buffered)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _stop_reading(self, conn: _Conn) -> None:
        self.reading.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def on_client_socket_readable(self, conn: _Conn, client: Any) -> None:
        """A kept-alive connection starts its next request: read its head on the loop."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_head(conn, b"")
        self._on_head_bytes(conn, client)

    # -- timeouts ------------------------------------------------------------------------
    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        while self.reading:
            conn = next(iter(self.reading))
            if conn.deadline > now and self.alive:
                break
            self._stop_reading(conn)
            if self.alive:
                message = f"the request head did not arrive within {self.limits.header_timeout} s"
                _send_now(conn.sock, error_bytes(408, "request_timeout", message))
            self._close(conn)
        while self.lingering:
            conn = next(iter(self.lingering))
            if conn.deadline > now:
                break
            self._end_linger(conn)

    # -- a thread's turn -----------------------------------------------------------------
    def handle_request(self, req: Any, conn: _Conn) -> Any:
        conn.sock.settimeout(self.limits.body_timeout)
        return super().handle_request(req, conn)

    def finish_request(self, conn: _Conn, fs: Future[Any]) -> None:
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:
            result = False
        if result is True and not self.alive:
            super().finish_request(conn, fs)  # gunicorn's brief linger while it stops
            return
        try:
            conn.sock.setblocking(False)
        except OSError:
            self._close(conn)
            return
        if result is not True:
            self._linger(conn)
            return
        pending = conn.parser.unreader.take_buffered()
        if pending:  # the client sent its next request already
            self._read_head(conn, pending)
            return
        conn.set_timeout()
        self.keepalived_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
        )

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's own parse errors (and an application crash past Flask) as JSON."""
        status, code = _PARSE_STATUS.get(type(exc), (0, ""))
        if not status:
            status, code = (
                (400, "bad_request")
                if isinstance(exc, http_errors.ParseException)
                else (500, "internal")
            )
        if status >= 500:
            self.log.exception("error handling a request from %s", addr)
            message = "internal error (see the log)"
        else:
            self.log.warning("invalid request from %s: %s", addr and addr[0], exc)
            message = str(exc) or type(exc).__name__
        with contextlib.suppress(OSError):
            client.sendall(error_bytes(status, code, message))

    # -- closing -------------------------------------------------------------------------
    def _linger(self, conn: _Conn) -> None:
        """Half-close and drain on the loop, so the answer is not cut by a reset."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            self._close(conn)
            return
        conn.deadline = time.monotonic() + LINGER
        self.lingering[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger_bytes, conn))

    def _on_linger_bytes(self, conn: _Conn, _sock: object) -> None:
        try:
            if conn.sock.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._end_linger(conn)

    def _end_linger(self, conn: _Conn) -> None:
        self.lingering.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self._close(conn)

    def _close(self, conn: _Conn) -> None:
        self.nr_conns -= 1
        conn.close()


def _ip(conn: _Conn) -> str:
    return str(conn.client[0]) if isinstance(conn.client, tuple) else ""


def _send_now(sock: socket.socket, data: bytes) -> None:
    """What fits in the socket buffer now (an error answer always does); never waits."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(data)


def _close_now(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    sock.close()
