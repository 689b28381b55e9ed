"""The running server's address, so previews name it (``node show --boot``,
``node manifest``, media URLs) instead of a ``SERVER`` placeholder.

``provisioner serve`` writes ``<data_dir>/server.json`` once its settings are
final (after ``--interface`` gave it an address) and removes it when it stops::

    {"pid": 1234, "url": "http://192.0.2.1:8080", "http": "0.0.0.0:8080"}

``url`` is what booting boxes are told (:func:`advertised_url`), or null when the
server listens on a wildcard address with no ``server_ip``: then each box is told
the address it reached the server at, and no preview can know it in advance.
A file whose process is gone is ignored.

:func:`preview_url` is the one rule for every preview: an explicit ``--server
URL``, else the running server's URL, else the ``server_ip`` setting, else the
placeholder ``http://SERVER:<port>`` (and ``known`` is False, so the caller
says so).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from provisioner.bootnames import base_url, server_url
from provisioner.config import Settings
from provisioner.errors import ValidationError

STATE_FILE = "server.json"
PLACEHOLDER_HOST = "SERVER"


def advertised_url(settings: Settings) -> str | None:
    """The base URL boxes are told when it does not depend on the request: the
    ``server_ip`` setting, else a specific HTTP listen address; None for a
    wildcard listen address (:func:`provisioner.bootnames.server_url`)."""
    host, port = settings.http_host_port
    return server_url(settings.server_ip, port, local_ip=host)


def write(settings: Settings) -> Path:
    """Record this process as the running server (atomically: temp file, rename)."""
    path = settings.data_dir / STATE_FILE
    state = {"pid": os.getpid(), "url": advertised_url(settings), "http": settings.http}
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(state) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def remove(settings: Settings) -> None:
    """Forget the running server, if the file is still ours."""
    path = settings.data_dir / STATE_FILE
    if _read(path).get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def running_url(data_dir: Path) -> str | None:
    """The URL a running server in ``data_dir`` tells boxes, if one runs and knows it."""
    state = _read(data_dir / STATE_FILE)
    pid, url = state.get("pid"), state.get("url")
    if not isinstance(pid, int) or not isinstance(url, str) or not _alive(pid):
        return None
    return url


def preview_url(settings: Settings, explicit: str | None = None) -> tuple[str, bool]:
    """``(base URL, known)`` for a preview; see the module docstring for the order."""
    if explicit:
        if not explicit.startswith(("http://", "https://")):
            raise ValidationError("--server", f"{explicit!r} is not an http(s) URL")
        return explicit.rstrip("/"), True
    port = settings.http_host_port[1]
    url = running_url(settings.data_dir) or server_url(settings.server_ip, port)
    if url:
        return url, True
    return base_url(PLACEHOLDER_HOST, port), False


def placeholder_note(settings: Settings) -> str:
    """What to say when a preview shows the placeholder."""
    return (
        f"note: {PLACEHOLDER_HOST} stands for this server's address, which is not known "
        f"here: no server runs on data directory {settings.data_dir} with a known address, "
        "and server_ip is not set (PROVISIONER_SERVER_IP, or --server URL for this preview)"
    )


def _read(path: Path) -> dict[str, object]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
