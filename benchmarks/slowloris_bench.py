"""Slow clients against the HTTP front: how long a box waits for its boot files
while N slow connections hang (docs/benchmarks.md, "Slow clients").

    .venv/bin/python -m benchmarks.slowloris_bench [--slow 0,1000,5000] [--rounds 3]

N connections over loopback, half sending a request head one byte per second,
half sending the request line and nothing more, from N/40 source addresses
(127.0.1.x, so the per-address cap stays at its default). Two seconds after they
connected, fetch on new connections: the node's pxelinux config, its iPXE script
and a 1 MiB Range of its release image; each curl has 10 s. The best of
``--rounds`` is not taken: the table shows the slowest round of each fetch.

Servers, each run in turn on the same data:
* ``provisioner serve`` with its defaults (2 workers x 16 threads, the HTTP front);
* the same app on gunicorn's plain gthread worker (the server before the front),
  and with ``--workers gthread,gevent`` on gevent's (needs gevent installed);
* nginx (2 workers) serving the same three answers as static files, with the
  same header timeout (10 s) and keep-alive (5 s): the reference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.nginx import nginx
from tests.support.proc import free_tcp_port, running, wait_tcp
from tests.support.release import add_release_to
from tests.support.server import BIN, curl, descendants, serve, server_env
from tests.support.slowclients import (
    MAC,
    MEDIA,
    RANGE,
    SlowClients,
    boot_setup,
    raise_open_files,
    timed_fetches,
)

ROOT = Path(__file__).resolve().parents[1]
FETCHES = ("pxelinux config", "iPXE script", "1 MiB range")


def rss_mib(pid: int) -> float:
    total = 0
    for p in [pid, *descendants(pid)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


@contextmanager
def plain_gunicorn(work: Path, data: Path, worker: str) -> Iterator[tuple[str, int]]:
    """The app (``app:app``) on one of gunicorn's own workers: gthread as serve ran
    it before the front (2 x 16 threads), or gevent (10,000 greenlets a worker)."""
    port = free_tcp_port()
    env = server_env(data, port)
    cmd = [str(BIN / "gunicorn"), "-k", worker, "-w", "2", "--threads", "16", "--keep-alive",
           "5", "--worker-connections", "10000", "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", "--chdir", str(ROOT), "app:app"]  # fmt: skip
    with running(cmd, work / f"{worker}.log", env) as proc:
        wait_tcp("127.0.0.1", port, 30, proc, work / f"{worker}.log")
        yield f"http://127.0.0.1:{port}", proc.pid


def nginx_conf(port: int, root: Path) -> str:
    return f"""
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        client_header_timeout 10s;
        keepalive_timeout 5s;
        location / {{ root {root}; sendfile on; tcp_nopush on; default_type text/plain; }}
    }}
"""


def static_copy(urls: list[str], image: bytes, root: Path) -> None:
    """The three answers as files under ``root``, at the same paths."""
    cfg, script = (curl("--fail", url).stdout for url in urls[:2])
    (root / "boot" / "pxelinux.cfg").mkdir(parents=True)
    (root / "boot" / "pxelinux.cfg" / f"01-{MAC.replace(':', '-')}").write_bytes(cfg)
    (root / "boot" / "ipxe").write_bytes(script)
    (root / "media" / MEDIA).parent.mkdir(parents=True)
    (root / "media" / MEDIA).write_bytes(image)


def run_one(base: str, pid: int, slow: int, rounds: int, image: bytes) -> dict[str, Any]:
    urls = [
        f"{base}/boot/pxelinux.cfg/01-{MAC.replace(':', '-')}",
        f"{base}/boot/ipxe?mac={MAC}",
        f"{base}/media/{MEDIA}",
    ]
    port = int(base.rsplit(":", 1)[1])
    worst = [0.0, 0.0, 0.0]
    failed = [0, 0, 0]
    with SlowClients(port, drip=slow // 2, stall=slow - slow // 2, sources=max(1, slow // 40)) as c:
        time.sleep(2)
        for _ in range(rounds):
            for i, (seconds, status, body) in enumerate(timed_fetches(urls, max_time=10)):
                ok = status == 0 and (i != 2 or body == image[RANGE[0] : RANGE[1] + 1])
                failed[i] += not ok
                worst[i] = max(worst[i], seconds)
        rss = rss_mib(pid)
        hanging = c.open_count()
        refused = c.refused
    time.sleep(1)
    return {"worst_s": worst, "failed": failed, "rss_MiB": rss, "open": hanging,
            "refused": refused}  # fmt: skip


def table(results: dict[str, dict[int, dict[str, Any]]], rounds: int) -> str:
    lines = [
        f"Slowest of {rounds} rounds, ms (each fetch on a new connection; curl gives up at 10 s).",
        "",
        "| server | slow connections | " + " | ".join(FETCHES) + " | server RSS (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, by_n in results.items():
        for n, r in by_n.items():
            cells = [
                "timeout" if f else f"{s * 1000:.0f}"
                for s, f in zip(r["worst_s"], r["failed"], strict=True)
            ]
            lines.append(f"| {name} | {n:,} | " + " | ".join(cells) + f" | {r['rss_MiB']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--slow", default="0,1000,5000", help="numbers of slow connections")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--workers",
        default="gthread",
        help="gunicorn's own workers to run the app on too (gthread,gevent; empty: none)",
    )
    args = ap.parse_args()
    counts = [int(n) for n in args.slow.split(",")]
    raise_open_files(2 * max(counts) + 1024)
    results: dict[str, dict[int, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="slowloris-bench-") as tmp:
        work = Path(tmp)
        data = work / "data"
        add_release_to(data)
        with serve(work, data_dir=data, http_workers="2", http_threads="16") as server:
            urls, image = boot_setup(server)
            static_copy(urls, image, work / "static")
            print("provisioner serve ...", file=sys.stderr)
            results["provisioner (front)"] = {
                n: run_one(server.base, server.proc.pid, n, args.rounds, image) for n in counts
            }
        for worker in filter(None, args.workers.split(",")):
            print(f"gunicorn {worker} ...", file=sys.stderr)
            with plain_gunicorn(work, data, worker) as (base, pid):
                results[f"gunicorn {worker}"] = {
                    n: run_one(base, pid, n, args.rounds, image) for n in counts
                }
        port = free_tcp_port()
        print("nginx ...", file=sys.stderr)
        conf = nginx_conf(port, work / "static")
        with nginx(work / "nginx", conf, port, workers=2, connections=2 * max(counts) + 256):
            pid = int((work / "nginx" / "nginx.pid").read_text())
            base = f"http://127.0.0.1:{port}"
            results["nginx (static)"] = {
                n: run_one(base, pid, n, args.rounds, image) for n in counts
            }
    print(table(results, args.rounds))
    print(json.dumps(results, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
