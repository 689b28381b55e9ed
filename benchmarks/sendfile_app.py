"""The baseline the media benchmark compares against: Flask's ``send_file``
(werkzeug) under the same gunicorn, serving ``$BENCH_FILE`` at ``/file``.

Whole files go through gunicorn's sendfile here too; a Range request does not:
werkzeug wraps the file in ``_RangeWrapper``, which reads and discards every
byte before the range start and hands gunicorn an iterator instead of its file
wrapper.
"""

from __future__ import annotations

import os

from flask import Flask, Response, send_file

app = Flask(__name__)
FILE = os.environ.get("BENCH_FILE", "")


@app.get("/file")
def file() -> Response:
    return send_file(FILE, mimetype="application/octet-stream", conditional=True)
