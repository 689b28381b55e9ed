"""A private nginx for tests and benchmarks: our own config, pid and logs in a
temp directory, `daemon off`, never the system's config or service."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.support.proc import free_tcp_port, running, wait_tcp

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DOC_CONF = Path(__file__).resolve().parents[2] / "docs" / "nginx-provisioner.conf"


def main_conf(work: Path, server_blocks: str, workers: int = 1, connections: int = 1024) -> str:
    """A complete nginx.conf around ``server_blocks``, everything under ``work``.
    Workers run as root so they can read pytest's 0700 temp directories."""
    return f"""
daemon off;
master_process on;
user root;
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/error.log warn;
worker_rlimit_nofile {2 * connections + 64};
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
{server_blocks}
}}
"""


def provisioner_conf(port: int, upstream_port: int, media_dir: Path) -> str:
    """docs/nginx-provisioner.conf with its port, upstream and alias replaced."""
    text = DOC_CONF.read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("alias /var/lib/provisioner/media/;", f"alias {media_dir}/;"),
    ):
        assert old in text, f"{DOC_CONF} no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def nginx(
    work: Path, server_blocks: str, port: int, workers: int = 1, connections: int = 1024
) -> Iterator[None]:
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(main_conf(work, server_blocks, workers, connections))
    log = work / "nginx.out"
    with running([NGINX, "-c", str(conf), "-p", str(work)], log) as proc:
        wait_tcp("127.0.0.1", port, 30, proc, work / "error.log")
        yield


def static_conf(port: int, root: Path) -> str:
    """nginx serving a directory itself: the benchmark's baseline."""
    return f"""
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}; sendfile on; tcp_nopush on; sendfile_max_chunk 2m; }}
    }}
"""


__all__ = ["free_tcp_port", "main_conf", "nginx", "provisioner_conf", "static_conf"]
