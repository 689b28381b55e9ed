"""When has a client sent a whole HTTP/1.1 request head, and a small body with it?

The HTTP front (``provisioner/front.py``) reads a connection's bytes on its event
loop and feeds them to a :class:`HeadReader`; only when it says :class:`Ready`
does a worker thread get the connection, the bytes read so far given back to the
HTTP parser. So a client that sends its head slowly, or never finishes it, costs a
buffer and a timer, never a thread.

No I/O and no clock (pure): bytes in, a verdict out. It finds where the head ends,
checks the request line and the body framing (``Content-Length`` /
``Transfer-Encoding``) just enough to know how much more to wait for, and leaves
the full parsing to the server's parser:

* no body, or ``Expect: 100-continue`` -> ready at the end of the head;
* ``Content-Length`` up to ``small_body`` -> ready when the body is here too;
* a chunked body -> ready at its last chunk, or as soon as more than
  ``small_body`` bytes of it came (the rest streams to the application, as a
  larger ``Content-Length`` body does);
* a head over ``max_head``, a request line that is not one, an unreadable or
  conflicting ``Content-Length``, a bad chunk size -> :class:`Refuse` (4xx).
"""

from __future__ import annotations

from dataclasses import dataclass

#: a Content-Length with more digits is refused (past any disk, and past SQLite's integer)
MAX_LENGTH_DIGITS = 18
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True)
class HeadLimits:
    max_head: int = 64 * 1024
    small_body: int = 64 * 1024


@dataclass(frozen=True)
class More:
    """Wait for more bytes."""


@dataclass(frozen=True)
class Ready:
    """Hand the connection and every byte fed so far to the HTTP parser."""


@dataclass(frozen=True)
class Refuse:
    """Answer ``status`` with this JSON error and close."""

    status: int
    code: str
    message: str
    field: str = ""


Verdict = More | Ready | Refuse
MORE, READY = More(), Ready()


class HeadReader:
    """One request's head (and small body) as it arrives; feed it bytes."""

    def __init__(self, limits: HeadLimits) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._searched = 0  # where the next search for the head's end starts
        self._need: int | None = None  # Content-Length framing: total bytes to wait for
        self._chunk_at: int | None = None  # chunked framing: where the next chunk starts
        self._body_at = 0
        self._verdict: Verdict = MORE

    @property
    def buffered(self) -> bytes:
        return bytes(self._buf)

    def feed(self, data: bytes) -> Verdict:
        if not isinstance(self._verdict, More):
            return self._verdict
        self._buf += data
        self._verdict = self._step()
        return self._verdict

    def _step(self) -> Verdict:
        if self._need is not None:
            return READY if len(self._buf) >= self._need else MORE
        if self._chunk_at is not None:
            return self._chunks()
        end = self._buf.find(b"\r\n\r\n", self._searched)
        if end < 0:
            if len(self._buf) > self.limits.max_head:
                return Refuse(
                    431,
                    "header_too_large",
                    f"the request head is over {self.limits.max_head} bytes",
                )
            self._searched = max(0, len(self._buf) - 3)
            return MORE
        if end > self.limits.max_head:
            return Refuse(
                431, "header_too_large", f"the request head is over {self.limits.max_head} bytes"
            )
        return self._framing(bytes(self._buf[:end]), end + 4)

    def _framing(self, head: bytes, body_at: int) -> Verdict:
        lines = head.lstrip(b"\r\n").split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[0] or not set(parts[0]) <= _TOKEN:
            return Refuse(400, "bad_request_line", "the request line is not METHOD TARGET VERSION")
        if not parts[2].startswith(b"HTTP/"):
            return Refuse(400, "bad_request_line", "the request line names no HTTP version")
        lengths: set[bytes] = set()
        chunked = expect = False
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                continue  # the server's parser refuses it, with its own message
            key, value = name.strip().lower(), value.strip()
            if key == b"content-length":
                lengths.update(v.strip() for v in value.split(b","))
            elif key == b"transfer-encoding":
                chunked = chunked or value.lower().endswith(b"chunked")
            elif key == b"expect":
                expect = True
        if chunked and lengths:
            return Refuse(
                400, "bad_framing", "both Content-Length and Transfer-Encoding", "Content-Length"
            )
        if expect:
            return READY  # the client waits for our 100 Continue before it sends the body
        self._body_at = body_at
        if chunked:
            self._chunk_at = body_at
            return self._chunks()
        if not lengths:
            return READY
        if len(lengths) > 1:
            return Refuse(400, "bad_framing", "conflicting Content-Length values", "Content-Length")
        (text,) = lengths
        if not text.isdigit() or not text.isascii() or len(text) > MAX_LENGTH_DIGITS:
            return Refuse(
                400, "bad_framing", "Content-Length is not a number of bytes", "Content-Length"
            )
        length = int(text)
        if length > self.limits.small_body:
            return READY  # a large body streams to the application
        self._need = body_at + length
        return self._step()

    def _chunks(self) -> Verdict:
        assert self._chunk_at is not None
        while True:
            at = self._chunk_at
            if at - self._body_at > self.limits.small_body:
                return READY
            eol = self._buf.find(b"\r\n", at)
            if eol < 0:
                return MORE if len(self._buf) - at <= 1024 else self._bad_chunk()
            size_text = bytes(self._buf[at:eol]).split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 15 or not set(size_text) <= _HEX:
                return self._bad_chunk()
            size = int(size_text, 16)
            if size == 0:  # the last chunk; then trailer lines up to an empty one
                return READY if self._buf.find(b"\r\n\r\n", eol) >= 0 else MORE
            nxt = eol + 2 + size + 2
            if len(self._buf) < nxt:
                return MORE if nxt - self._body_at <= self.limits.small_body else READY
            self._chunk_at = nxt

    @staticmethod
    def _bad_chunk() -> Refuse:
        return Refuse(400, "bad_chunk", "a chunk size line is not a hex number", "body")
