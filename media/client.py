"""A client for the resumable upload protocol (``provisioner image add
--server``): hash the file, start (or find again) the upload, send the rest
from the server's offset, and on a broken connection ask the offset and go on.

Standard library only (``http.client``); see docs/media.md for the protocol.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provisioner.errors import ProvisionerError

BLOCK = 1 << 20
Progress = Callable[[int], None]


class UploadFailed(ProvisionerError):
    """The server refused the upload (the message is its answer), or it could
    not be reached after all retries."""


def hash_file(path: Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(BLOCK):
            h.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return h.hexdigest()


class UploadClient:
    def __init__(
        self, base_url: str, token: str, *, timeout: float = 300, retries: int = 5
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UploadFailed(f"--server {base_url!r} is not an http(s) URL")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout)

    def _answer(self, resp: http.client.HTTPResponse) -> tuple[int, dict[str, Any]]:
        raw = resp.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"error": {"message": raw[:200].decode(errors="replace")}}
        return resp.status, body

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        conn = self._connection()
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, self.prefix + path, data, headers)
            status, answer = self._answer(conn.getresponse())
        finally:
            conn.close()
        if status >= 400:
            raise UploadFailed(_message(status, answer))
        return answer

    def get(self, path: str) -> Any:
        """GET ``path`` (``/api/v1/...``) and return its JSON; an error answer raises."""
        return self._json("GET", path)

    def find(self, path: str) -> dict[str, Any] | None:
        """GET a JSON object; None when the server says 404."""
        try:
            return dict(self.get(path))
        except UploadFailed as exc:
            if exc.message.startswith("server said 404"):
                return None
            raise

    def _put(
        self, upload_id: str, path: Path, offset: int, size: int, progress: Progress | None
    ) -> tuple[int, dict[str, Any]]:
        conn = self._connection()
        try:
            conn.putrequest("PUT", f"{self.prefix}/api/v1/uploads/{upload_id}")
            conn.putheader("Authorization", f"Bearer {self.token}")
            conn.putheader("Content-Type", "application/octet-stream")
            if offset < size:
                conn.putheader("Content-Range", f"bytes {offset}-{size - 1}/{size}")
                conn.putheader("Content-Length", str(size - offset))
            else:
                conn.putheader("Content-Range", f"bytes */{size}")
                conn.putheader("Content-Length", "0")
            conn.endheaders()
            with path.open("rb") as f:
                f.seek(offset)
                while chunk := f.read(BLOCK):
                    conn.send(chunk)
                    if progress is not None:
                        progress(len(chunk))
            return self._answer(conn.getresponse())
        finally:
            conn.close()

    def upload(
        self,
        path: Path,
        target: Mapping[str, str],
        *,
        sha256: str | None = None,
        progress: Progress | None = None,
        hashing: Progress | None = None,
        resumed: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Upload ``path``; returns the server's final answer (with ``release``
        or ``bundle``). ``resumed(offset)`` is told where sending starts."""
        size = path.stat().st_size
        digest = sha256 or hash_file(path, hashing)
        session = self._json("POST", "/api/v1/uploads", {**target, "size": size, "sha256": digest})
        upload_id, offset = session["id"], int(session["offset"])
        for attempt in range(self.retries + 1):
            if resumed is not None:
                resumed(offset)
            try:
                status, answer = self._put(upload_id, path, offset, size, progress)
            except (OSError, http.client.HTTPException) as exc:
                if attempt == self.retries:
                    raise UploadFailed(f"upload {upload_id} failed: {exc}") from exc
            else:
                if status in (200, 201) and answer.get("complete"):
                    return dict(answer)
                retry = status == 400 or (status == 409 and "busy" in _message(status, answer))
                if status >= 400 and not retry:
                    raise UploadFailed(_message(status, answer))
            time.sleep(min(2**attempt, 10))
            offset = int(self._json("GET", f"/api/v1/uploads/{upload_id}")["offset"])
        raise UploadFailed(f"upload {upload_id} did not complete after {self.retries} retries")


def _message(status: int, answer: Mapping[str, Any]) -> str:
    error = answer.get("error") or {}
    return f"server said {status}: {error.get('message', answer)}"
