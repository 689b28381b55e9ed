"""A real ``provisioner serve`` (gunicorn) for integration tests, and curl."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.proc import free_tcp_port, running, wait_tcp

BIN = Path(sys.executable).parent


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", str(int(timeout)), *args],
        capture_output=True,
        timeout=timeout + 10,
        check=False,
    )


def server_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")}
    env.update(
        PROVISIONER_DATA_DIR=str(data_dir),
        PROVISIONER_HTTP=f"127.0.0.1:{port}",
        PROVISIONER_HTTP_WORKERS="1",
        PROVISIONER_LOG_LEVEL="WARNING",
    )
    env.update({f"PROVISIONER_{k.upper()}": v for k, v in settings.items()})
    return env


def admin_token(env: dict[str, str]) -> str:
    return subprocess.run(
        [str(BIN / "provisioner"), "token", "create", "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()


@dataclass
class Server:
    base: str
    token: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def auth(self) -> list[str]:
        return ["-H", f"Authorization: Bearer {self.token}"]

    def media(self) -> list[str]:
        """Files a box could download (everything under media/ but .uploads)."""
        root = self.data_dir / "media"
        files = [p for p in root.rglob("*") if p.is_file() and ".uploads" not in p.parts]
        return sorted(str(p.relative_to(root)) for p in files)


@contextlib.contextmanager
def serve(
    tmp_path: Path,
    name: str = "serve",
    data_dir: Path | None = None,
    wrapper: Sequence[str] = (),
    token: str | None = None,
    **settings: str,
) -> Iterator[Server]:
    """``provisioner serve`` on a free port; ``wrapper`` prefixes the command
    (e.g. ``unshare``). Stopped with SIGTERM on exit (unless already gone)."""
    data_dir = data_dir or tmp_path / "data"
    port = free_tcp_port()
    env = server_env(data_dir, port, **settings)
    token = token or admin_token(env)
    log = tmp_path / f"{name}.log"
    with running([*wrapper, str(BIN / "provisioner"), "serve"], log, env) as proc:
        wait_tcp("127.0.0.1", port, 60, proc, log)
        yield Server(f"http://127.0.0.1:{port}", token, data_dir, proc, log)


def descendants(pid: int) -> list[int]:
    """Child processes, recursively, from /proc (gunicorn's workers)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(c) for c in (task / "children").read_text().split()]
                found += kids
                todo += kids
    return found


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a server we started and its workers, by PID: a crash, not a stop.
    Returns once every one of them is gone: a worker killed inside a slow fsync
    holds its flock (and may finish that write) until it exits, and a restart that
    came earlier would see a lock that no crash leaves behind."""
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids[1:]):
        assert time.monotonic() < deadline, f"killed workers still there: {pids[1:]}"
        time.sleep(0.05)
