"""A tiny HTTP server standing in for ``POST /node/report`` (the lead wires the real
one into the server): it records each request as a JSON line and answers with the
text of an answer file, re-read per request so a test can change it; an answer
file ending in ``.once`` is renamed away after its first use.

    python -m tests.support.reportsink HOST PORT RECORD ANSWER
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs


def handler(record: Path, answer: Path) -> type[BaseHTTPRequestHandler]:
    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            once = answer.with_name(answer.name + ".once")
            if once.exists():
                text = once.read_text()
                once.rename(once.with_name(once.name + ".used"))
            else:
                text = answer.read_text() if answer.exists() else "ACTION=none\n"
            entry = {
                "path": self.path,
                "authorization": self.headers.get("Authorization", ""),
                "content_type": self.headers.get("Content-Type", ""),
                "form": {
                    k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()
                },
                "answered": text,
            }
            with record.open("a") as f:
                f.write(json.dumps(entry) + "\n")
            status = 200 if self.path == "/node/report" else 404
            data = text.encode() if status == 200 else b"not found\n"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(format % args + "\n")

    return Sink


def main() -> None:
    host, port, record, answer = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    ThreadingHTTPServer((host, port), handler(record, answer)).serve_forever()


if __name__ == "__main__":
    main()
