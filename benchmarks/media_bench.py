"""Media streaming benchmark: ``provisioner serve`` against nginx serving the
same file in the same run (and Flask's send_file for the Range case).

    .venv/bin/python -m benchmarks.media_bench [--size-mb 500] [--clients 20] [--gthread]

Measures, with real curl clients over loopback:

* 1 client x the whole file, and N concurrent clients x the whole file
  (aggregate MB/s = all bytes / wall time), plus server CPU seconds per GB;
* Range requests: the last 1 MiB, the first 1 MiB and the last 64 MiB -- time
  per request and bytes the server's workers read per request (``rchar`` from
  /proc, sendfile included), which must follow the bytes sent, not the offset.

Prints a Markdown table (for docs/benchmarks.md) and the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.slowloris_bench import plain_gunicorn
from tests.support.nginx import nginx, static_conf
from tests.support.proc import free_tcp_port, running, wait_tcp
from tests.support.server import BIN, descendants, serve

MiB = 1 << 20
RELPATH = "images/bench/1/bench-1.squashfs"
TICK = os.sysconf("SC_CLK_TCK")


def make_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for _ in range(size // (64 * MiB)):
            f.write(os.urandom(64 * MiB))
        f.write(os.urandom(size % (64 * MiB)))


def curl(*args: str) -> tuple[int, float]:
    """(bytes received, seconds) of one curl run to /dev/null."""
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split()
    return int(out[0]), float(out[1])


def concurrent(url: str, clients: int) -> tuple[int, float]:
    """All clients at once; (total bytes, wall seconds from first start to last end)."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(clients)
    ]
    total = sum(int(p.communicate(timeout=900)[0]) for p in procs)
    return total, time.perf_counter() - start


def tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rchar(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                total += int(line.split()[1])
    return total


def measure(
    servers: dict[str, tuple[str, int]], size: int, clients: int, repeat: int
) -> dict[str, dict[str, Any]]:
    """Runs alternate between the servers (all running at once), so load from
    elsewhere on the machine hits them alike; the best run of each counts."""
    pids = {}
    for name, (url, pid) in servers.items():
        curl(url)  # warm up: page cache, worker start
        pids[name] = tree(pid)
    single: dict[str, list[float]] = {name: [] for name in servers}
    aggregate: dict[str, list[float]] = {name: [] for name in servers}
    cpu = dict.fromkeys(servers, 0.0)
    sent = dict.fromkeys(servers, 0)
    for _ in range(repeat):
        for name, (url, _pid) in servers.items():
            n, t = curl(url)
            assert n == size, f"{name}: short download"
            single[name].append(size / t / 1e6)
            cpu0 = cpu_seconds(pids[name])
            n, t = concurrent(url, clients)
            cpu[name] += cpu_seconds(pids[name]) - cpu0
            assert n == size * clients, f"{name}: short concurrent download"
            sent[name] += n
            aggregate[name].append(n / t / 1e6)
    results = {}
    for name, (url, _pid) in servers.items():
        results[name] = {
            "single_MBps": max(single[name]),
            "aggregate_MBps": max(aggregate[name]),
            "aggregate_runs_MBps": [round(x) for x in aggregate[name]],
            "cpu_s_per_GB": cpu[name] / (sent[name] / 1e9),
            **ranges(url, pids[name], size),
        }
    return results


def ranges(url: str, pids: list[int], size: int, repeat: int = 10) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, spec, length in (
        ("last_1MiB", f"-{MiB}", MiB),
        ("first_1MiB", f"0-{MiB - 1}", MiB),
        ("last_64MiB", f"-{min(64 * MiB, size // 2)}", min(64 * MiB, size // 2)),
    ):
        times = []
        before = rchar(pids)
        for _ in range(repeat):
            n, t = curl("-r", spec, url)
            assert n == length, f"range {spec}: got {n} bytes"
            times.append(t)
        out[f"{label}_ms"] = statistics.median(times) * 1000
        out[f"{label}_read_MiB"] = (rchar(pids) - before) / repeat / MiB
    return out


def with_werkzeug(file: Path, work: Path, fn: Callable[[str, int], dict[str, Any]]) -> Any:
    port = free_tcp_port()
    env = {**os.environ, "BENCH_FILE": str(file)}
    cmd = [str(BIN / "gunicorn"), "-k", "gthread", "-w", "2", "--threads", "16",
           "-b", f"127.0.0.1:{port}", "--log-level", "warning",
           "benchmarks.sendfile_app:app"]  # fmt: skip
    with running(cmd, work / "werkzeug.log", env) as proc:
        wait_tcp("127.0.0.1", port, 30, proc)
        url = f"http://127.0.0.1:{port}/file"
        curl(url)  # warm up
        return fn(url, proc.pid)


def table(results: dict[str, dict[str, Any]], size: int, clients: int) -> str:
    names = list(results)
    rows = [
        ("1 client, whole file (MB/s)", "single_MBps", "{:.0f}"),
        (f"{clients} clients, aggregate (MB/s)", "aggregate_MBps", "{:.0f}"),
        ("server CPU per GB sent (s)", "cpu_s_per_GB", "{:.3f}"),
        ("Range: last 1 MiB (ms)", "last_1MiB_ms", "{:.1f}"),
        ("Range: first 1 MiB (ms)", "first_1MiB_ms", "{:.1f}"),
        ("Range: last 64 MiB (ms)", "last_64MiB_ms", "{:.1f}"),
        ("Range: last 1 MiB, bytes read (MiB)", "last_1MiB_read_MiB", "{:.1f}"),
        ("Range: last 64 MiB, bytes read (MiB)", "last_64MiB_read_MiB", "{:.1f}"),
    ]
    lines = [
        f"File: {size // MiB} MiB, page-cached, loopback, curl clients.",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, key, fmt in rows:
        cells = [fmt.format(results[n][key]) if key in results[n] else "-" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    p, n = results.get("provisioner"), results.get("nginx")
    if p and n:
        lines += [
            "",
            f"provisioner / nginx, aggregate: {p['aggregate_MBps'] / n['aggregate_MBps']:.2f}",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-werkzeug", action="store_true", help="skip the send_file baseline")
    ap.add_argument(
        "--gthread",
        action="store_true",
        help="also the same app on gunicorn's plain gthread worker (before the HTTP front)",
    )
    args = ap.parse_args()
    size = args.size_mb * 1000 * 1000
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        work = Path(tmp)
        file = work / "data" / "media" / RELPATH
        make_file(file, size)
        print(f"serving a {size // MiB} MiB file to {args.clients} clients ...", file=sys.stderr)
        port = free_tcp_port()
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(serve(work, http_workers="2", http_threads="16"))
            conf = static_conf(port, work / "data" / "media")
            stack.enter_context(nginx(work / "nginx", conf, port, workers=2))
            nginx_pid = int((work / "nginx" / "nginx.pid").read_text())
            servers = {
                "provisioner": (f"{server.base}/media/{RELPATH}", server.proc.pid),
                "nginx": (f"http://127.0.0.1:{port}/{RELPATH}", nginx_pid),
            }
            if args.gthread:
                base, pid = stack.enter_context(plain_gunicorn(work, work / "data", "gthread"))
                servers["plain gthread"] = (f"{base}/media/{RELPATH}", pid)
            results = measure(servers, size, args.clients, args.repeat)
        if not args.no_werkzeug:
            results["werkzeug send_file"] = with_werkzeug(
                file, work, lambda url, pid: ranges(url, tree(pid), size)
            )
    print(table(results, size, args.clients))
    print(json.dumps(results, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
