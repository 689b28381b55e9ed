#!/usr/bin/env python3
"""The lab's stand-in HTTP server (stdlib only), extended just enough for our agent.

What the benchmark compares our server against: static files with Range support
(kernel, initrd, images, the disk loader, per-node manifests, settings and slot
boot.cfg files as static files at ``agent/manifest/<token>``,
``agent/settings.tar/<token>``, ``agent/boot.cfg/<token>/<slot>``), and a sink for
the agent's reports and the installed system's ``/node/report`` (answered
``ACTION=none``), appended as JSON lines to --events. No database, no templates, no
auth checks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

_lock = threading.Lock()
_RANGE = re.compile(r"bytes=(\d+)-(\d*)\Z")


class Handler(BaseHTTPRequestHandler):
    root: Path
    events: Path
    protocol_version = "HTTP/1.1"

    def _token(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ").strip()

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        path = path.lstrip("/")
        if path in ("agent/manifest", "agent/settings.tar"):  # per node: by its token
            path = f"{path}/{self._token()}"
        elif path == "agent/boot.cfg":  # per node and slot
            path = f"{path}/{self._token()}/{dict(parse_qsl(query)).get('slot', '')}"
        elif path.startswith("boot/files/"):  # the disk loader (as our /boot/files/)
            path = path.removeprefix("boot/files/")
        target = (self.root / path).resolve()
        if not target.is_file() or self.root not in target.parents:
            self.send_error(404)
            return
        size = target.stat().st_size
        start, end, status = 0, size - 1, 200
        m = _RANGE.match(self.headers.get("Range", ""))
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with target.open("rb") as f:
            f.seek(start)
            os.sendfile(self.wfile.fileno(), f.fileno(), start, end - start + 1)

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        fields = dict(parse_qsl(self.rfile.read(n).decode("utf-8", "replace")))
        fields.update(
            _path=self.path, _token=self._token(), _client=self.client_address[0], _time=time.time()
        )
        with _lock, self.events.open("a", encoding="utf-8") as f:
            f.write(json.dumps(fields, sort_keys=True) + "\n")
        body = b"ACTION=none\nINTERVAL=60\n" if self.path == "/node/report" else b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} {fmt % args}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("--events", required=True, type=Path)
    a = ap.parse_args()
    Handler.root = a.root.resolve()
    Handler.events = a.events
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer((a.bind, a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
