"""Request bodies: size and depth limits, and what an early refusal does with a body.

* The app reads small bodies whole (JSON, a syslinux.cfg, the agent's form). Werkzeug
  caps them at ``MAX_CONTENT_LENGTH``, but a *chunked* body (no ``Content-Length``)
  is only read up to the cap and the prefix handed on as if it were the whole body;
  :class:`Request` makes one byte past the cap a 413 instead.
* :func:`read_body` applies a route's own limit (413 naming ``body``);
  :func:`json_object` adds a nesting limit (422: Python's parser would otherwise
  recurse until it fails with a 500).
* A request refused before its body was read (401, 403, 404, 422 ...): the rest of
  a small body is read and dropped, so the connection stays in step for the
  client's next request; a large one is not, and the answer says
  ``Connection: close``.
"""

from __future__ import annotations

import contextlib
import json
from typing import IO, Any

from flask import Flask, Response, g, request
from flask import Request as FlaskRequest
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from media.errors import TooLarge
from provisioner.errors import ValidationError

#: the largest body the app reads whole (a syslinux.cfg import; JSON has less)
MAX_BODY = 16 * 1024 * 1024
#: JSON request bodies: bytes and nesting of arrays/objects
MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
#: an early refusal reads and drops at most this much of the body
DRAIN_MAX = 1024 * 1024
BLOCK = 64 * 1024


class _StrictMax(LimitedStream):
    """A chunked body capped at ``limit``: reading it whole fails (413) when
    the client sent more, rather than stopping quietly at the cap."""

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._stream.read(1):
            raise RequestEntityTooLarge(f"the body is over {self.limit} bytes")
        return data


class Request(FlaskRequest):
    @cached_property
    def stream(self) -> IO[bytes]:
        g.body_read = True
        limit = self.max_content_length
        if self.content_length is None and "wsgi.input_terminated" in self.environ and limit:
            return _StrictMax(self.environ["wsgi.input"], limit, is_max=True)  # type: ignore[return-value]
        return get_input_stream(self.environ, max_content_length=limit)


def read_body(limit: int, what: str = "body") -> bytes:
    """The whole request body; over ``limit`` bytes it is a 413 naming ``what``."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(what, f"{request.content_length} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := request.stream.read(min(BLOCK, limit + 1 - size)):  # a read may be short
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise TooLarge(what, f"over the limit of {limit} bytes")
    except RequestEntityTooLarge:  # a chunked body past MAX_BODY
        raise TooLarge(what, f"over the limit of {limit} bytes") from None
    return b"".join(chunks)


def json_depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (no recursion)."""
    deepest = 0
    todo: list[tuple[object, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            children = item.values() if isinstance(item, dict) else item
            todo.extend((child, depth + 1) for child in children)
    return deepest


def json_object() -> dict[str, Any]:
    """The body as a JSON object ({} when empty), within the size and depth limits."""
    raw = read_body(MAX_JSON_BYTES)
    if not raw.strip():
        return {}
    too_deep = ValidationError("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw)
    except RecursionError:  # the C parser's own guard, far past MAX_JSON_DEPTH
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("body", f"not valid JSON ({exc})") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    if not isinstance(data, dict):
        raise ValidationError("body", "must be a JSON object")
    return data


def mark_read() -> None:
    """The route reads the body itself (an upload): leave it alone after a refusal."""
    g.body_read = True


def _has_body() -> bool:
    env = request.environ
    return bool(request.content_length) or "chunked" in env.get("HTTP_TRANSFER_ENCODING", "")


def _after_refusal(resp: Response) -> Response:
    if resp.status_code < 400 or g.get("body_read") or not _has_body():
        return resp
    length = request.content_length
    if length is None or length > DRAIN_MAX or not _drained(length):
        resp.headers["Connection"] = "close"
    return resp


def _drained(length: int) -> bool:
    with contextlib.suppress(OSError, ClientDisconnected):
        stream = get_input_stream(request.environ, max_content_length=None)
        return len(stream.read(length)) == length
    return False


def init_app(app: Flask) -> None:
    app.request_class = Request
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY  # media uploads stream past it (media_api.py)
    app.after_request(_after_refusal)
