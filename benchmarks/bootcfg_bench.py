"""Boot config over HTTP: ``GET /boot/pxelinux.cfg/01-<mac>`` with 1,000 nodes in
the store, served by ``provisioner serve`` (gunicorn, production defaults: 2 gthread
workers x 16 threads, INFO log, access log on), against nginx serving the same
1,000 files as static files from disk, in the same run.

    .venv/bin/python -m benchmarks.bootcfg_bench --label after-XXXXXXX --baseline 0bd5dfc
    .venv/bin/python -m benchmarks.bootcfg_bench --label local-XXXXXXX --baseline 0bd5dfc \\
        --action local

``--baseline REF`` serves, in the same run and taking turns with the others, the
same stores filled and served by the code of commit REF (a temporary git worktree,
run with this venv): a before/after comparison that load from elsewhere on the
machine hits alike. ``--action local`` puts every node in action ``local`` (the
steady state of an installed rack: boxes booting their disks) instead of
``install`` (every box in an install window, the boot storm of a rack install).

What it does:

* fills a store in-process (Service/Store API) with 1 release, 2 bundles, 4 profiles
  with dot-options (3 with the release, 2 with a bundle) and ``--nodes`` nodes spread
  over them, each with its own ``ip.``/``hostname`` and ``--action`` (install: every
  APPEND carries ``server. token. action.``); every 10th node names its own bundle,
  every 7th the release itself; once in SQLite (the default) and, unless
  ``--no-pg``, once in PostgreSQL (a private cluster, tests/support/pg.py);
* renders each node's file in-process (the expected bytes) and writes them under an
  nginx root at the same path; nginx (2 workers, the same as gunicorn) serves them;
* counts, in-process (Flask test client on the same stores, SQLAlchemy event
  listeners), the database sessions, SQL statements and tables one request costs;
* starts all servers at once on 127.0.0.1 and checks that every one of the 1,000
  URLs answers 200 with exactly the expected bytes on each server (also the warm-up);
* measures with wrk (a Lua script picks a random one of the 1,000 MACs per request
  and checks every response: status 200 and a body that is exactly one of the
  expected ones), for each connection count in ``--connections``, keep-alive on and
  off, ``--duration`` seconds each, ``--rounds`` rounds; within a round the servers
  take turns (ours SQLite, nginx, ours PostgreSQL; the order rotates every round), so
  load from elsewhere on the machine hits them alike. The median round counts.

Reports requests/s, p50/p99 latency (wrk's, per request), server CPU per request
(user+system of the server's processes, /proc) and the workers' RSS growth; prints a
Markdown table and writes the raw figures to ``benchmarks/results/bootcfg-LABEL.json``.

Needs wrk (Debian: ``apt-get install wrk``), nginx and, for PostgreSQL, the
postgresql package. Everything listens on 127.0.0.1 only; every process it starts is
stopped by PID, the temp directory removed; each wrk run is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.media_bench import cpu_seconds, tree
from tests.support.nginx import NGINX, nginx, static_conf
from tests.support.pg import start_private_cluster
from tests.support.proc import free_tcp_port, running, wait_tcp
from tests.support.server import BIN, descendants, server_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
SEED = 10


# -- the store ---------------------------------------------------------------------------
def mac_of(i: int) -> str:
    return f"52:54:00:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


def path_of(mac: str) -> str:
    return "/boot/pxelinux.cfg/01-" + mac.replace(":", "-")


def settings_for(data_dir: Path, database_url: str | None) -> Any:
    from provisioner.config import load_settings

    env = {"PROVISIONER_DATA_DIR": str(data_dir)}
    if database_url:
        env["PROVISIONER_DATABASE_URL"] = database_url
    return load_settings(env)


def populate(settings: Any, nodes: int, action: str = "install") -> None:
    """Release, bundles, profiles and nodes through the Service, as the API does."""
    from provisioner.db import open_store
    from provisioner.domain import Release
    from provisioner.service import Service

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings, upgrade=True)
    try:
        service = Service(store, settings)
        store.add_release(Release("avbox", "2.0", "avbox-2.0.squashfs", 1 << 30, "e" * 64))
        service.put_bundle("tinycore", {"iso": "tc.iso", "image": "v101.img"})
        service.put_bundle("winxp", {"iso": "xp.iso", "definition": "xp.def", "image": "xp.img"})
        # a /16: every node's ip.10.20.X.Y reaches the gateway (preflight checks it)
        base = "keyboard.de_CH lang.de auto submask.255.255.0.0 gw.10.20.0.1 dns.10.20.0.1"
        profiles = {
            "avbox1": {"options": base, "initrd": "initrd.img", "release": "avbox:2.0",
                       "bundle": "tinycore"},
            "avbox2": {"options": base + " ramdisk_size=81920 quiet", "initrd": "initrd.img",
                       "release": "avbox:2.0"},
            "avbox3": {"options": "keyboard.fr_CH lang.fr auto", "initrd": "initrd.img",
                       "release": "avbox:2.0", "bundle": "winxp"},
            "rescue": {"options": "lang.en nodhcp", "initrd": "initrd.img",
                       "release": "avbox:2.0"},
        }  # fmt: skip
        for name, fields in profiles.items():
            service.save_profile(name, fields)
        names = list(profiles)
        for i in range(nodes):
            data: dict[str, Any] = {
                "profile": names[i % len(names)],
                "hostname": f"box{i:04d}",
                "options": f"ip.10.20.{1 + i // 250}.{1 + i % 250}",
                "action": action,
            }
            if i % 10 == 3:
                data["bundle"] = "tinycore"
            if i % 7 == 5:
                data["release"] = "avbox:2.0"
            service.save_node(mac_of(i), data)
    finally:
        store.close()


def expected_files(settings: Any, macs: list[str], base_url: str) -> dict[str, bytes]:
    """path -> the bytes the server should send, rendered in-process."""
    from provisioner.db import open_store
    from provisioner.service import Service

    store = open_store(settings, upgrade=False)
    try:
        service = Service(store, settings)
        out = {}
        for mac in macs:
            name = "01-" + mac.replace(":", "-")
            text = service.pxelinux_file(name, base_url)
            assert text is not None, f"no config for {mac}"
            out[path_of(mac)] = text.encode()
        return out
    finally:
        store.close()


# -- SQL per request ---------------------------------------------------------------------
def count_sql(settings: Any, macs: list[str], requests: int) -> dict[str, Any]:
    """Sessions, statements and tables per request, Flask test client in-process."""
    from sqlalchemy import Engine, event
    from sqlalchemy.orm import Session

    from provisioner.db import open_store
    from provisioner.web import create_app

    store = open_store(settings, upgrade=False)
    app = create_app(settings, store)
    client = app.test_client()
    rng = random.Random(SEED)
    stats: Counter[str] = Counter()
    tables: Counter[str] = Counter()
    samples: list[str] = []

    def on_statement(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb == "BEGIN":
            stats["begin"] += 1
            return
        stats["statements"] += 1
        stats[f"statements_{verb.lower()}"] += 1
        for m in re.finditer(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+\"?(\w+)", statement, re.I):
            tables[m.group(1)] += 1
        if len(samples) < 12:
            samples.append(" ".join(statement.split())[:300])

    def on_session(*_a: Any) -> None:
        stats["sessions"] += 1

    def on_commit(*_a: Any) -> None:
        stats["commits"] += 1

    def on_checkout(*_a: Any) -> None:
        stats["pool_checkouts"] += 1

    pool = store._reader.pool  # the reader and writer engines share it
    hooks = [
        (Engine, "before_cursor_execute", on_statement),
        (Engine, "commit", on_commit),
        (Session, "after_begin", on_session),
        (pool, "checkout", on_checkout),
    ]
    try:
        first = client.get(path_of(macs[0]))  # warm-up: connection, PRAGMAs, imports
        assert first.status_code == 200, first.status_code
        for target, name, fn in hooks:
            event.listen(target, name, fn)
        try:
            for _ in range(requests):
                resp = client.get(path_of(rng.choice(macs)))
                assert resp.status_code == 200, resp.status_code
        finally:
            for target, name, fn in hooks:
                event.remove(target, name, fn)
    finally:
        store.close()
    per = {k: v / requests for k, v in sorted(stats.items())}
    return {
        "requests": requests,
        "per_request": per,
        "tables_per_request": {k: v / requests for k, v in sorted(tables.items())},
        "distinct_tables": sorted(tables),
        "first_statements": samples,
    }


# -- servers -----------------------------------------------------------------------------
def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


@contextlib.contextmanager
def provisioner_serve(
    work: Path, name: str, settings: Any, port: int, code: Path | None = None
) -> Iterator[int]:
    """``provisioner serve`` with the production defaults for workers, threads and
    log level (tests use 1 worker and WARNING), of this tree or of ``code`` (a
    checkout of another commit); yields the master's PID."""
    extra = {"http_workers": "2", "http_threads": "16", "log_level": "INFO"}
    if settings.database_url:
        extra["database_url"] = settings.database_url
    env = server_env(settings.data_dir, port, **extra)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    log = work / f"{name}.log"
    with running([str(BIN / "provisioner"), "serve"], log, env) as proc:
        wait_tcp("127.0.0.1", port, 60, proc, log)
        # gunicorn forks its workers after it listens: wait until both are there
        deadline = time.monotonic() + 30
        while len(descendants(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield proc.pid


def verify_all(port: int, expected: dict[str, bytes]) -> float:
    """Every URL once over one keep-alive connection: status and exact bytes.
    Returns the seconds it took (also the warm-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    try:
        for path, body in expected.items():
            conn.request("GET", path)
            resp = conn.getresponse()
            got = resp.read()
            assert resp.status == 200, f"{port}{path}: HTTP {resp.status}"
            assert got == body, f"{port}{path}: body differs:\n{got!r}\n!=\n{body!r}"
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
    finally:
        conn.close()
    return time.perf_counter() - start


# -- wrk ---------------------------------------------------------------------------------
LUA = r"""
local paths = {
%(paths)s
}
local ok = {
%(bodies)s
}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(%(seed)d + id * 7919)
  responses, bad_status, bad_body = 0, 0, 0
end

function request()
  return wrk.format(nil, paths[math.random(#paths)])
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  else
    if not ok[body] then bad_body = bad_body + 1 end
  end
end

function done(summary, latency, requests)
  local r, s, b = 0, 0, 0
  for _, t in ipairs(threads) do
    r = r + t:get("responses"); s = s + t:get("bad_status"); b = b + t:get("bad_body")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"latency_us":{"p50":%%d,"p90":%%d,"p99":%%d,"max":%%d,"mean":%%.1f},' ..
    '"checked":%%d,"bad_status":%%d,"bad_body":%%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, r, s, b))
end
"""


def lua_script(expected: dict[str, bytes], seed: int) -> str:
    def lit(s: str) -> str:
        assert "]==]" not in s
        return f"[==[{s}]==]"

    paths = ",\n".join(lit(p) for p in expected)
    bodies = ",\n".join(f"[ {lit(b.decode())} ] = true" for b in sorted(set(expected.values())))
    return LUA % {"paths": paths, "bodies": bodies, "seed": seed}


def run_wrk(
    port: int, script: Path, connections: int, keepalive: bool, duration: int, threads: int
) -> dict[str, Any]:
    cmd = [
        WRK,
        "-t",
        str(min(threads, connections)),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    if not keepalive:
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}/")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    assert line, f"wrk printed no result:\n{out.stdout}\n{out.stderr}"
    assert not out.stderr.strip(), f"wrk (or its script) complained:\n{out.stderr}"
    result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


# -- the baseline: another commit's code, in the same run --------------------------------
@contextlib.contextmanager
def baseline_checkout(ref: str, work: Path) -> Iterator[tuple[Path, str]]:
    """A temporary git worktree of ``ref`` holding this script as
    ``benchmarks/_bootcfg_now.py`` (so ``--prepare`` runs there); removed after."""
    path = work / "baseline"
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", ref], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    subprocess.run([*git, "worktree", "add", "--detach", str(path), commit], capture_output=True,
                   timeout=120, check=True)  # fmt: skip
    try:
        shutil.copy(Path(__file__), path / "benchmarks" / "_bootcfg_now.py")
        yield path, commit
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(path)], timeout=120,
                       check=False)  # fmt: skip


def prepare_elsewhere(
    code: Path, settings: Any, args: argparse.Namespace, base_url: str, work: Path
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Fill ``settings``' store and render the expected files with ``code``'s
    provisioner (a subprocess importing it first); the SQL count too."""
    out = work / f"prepare-{settings.data_dir.name}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")}
    env["PYTHONPATH"] = str(code)
    cmd = [sys.executable, "-m", "benchmarks._bootcfg_now", "--prepare", str(settings.data_dir),
           "--database-url", settings.database_url or "", "--base-url", base_url, "--out", str(out),
           "--nodes", str(args.nodes), "--action", args.action,
           "--sql-requests", str(args.sql_requests)]  # fmt: skip
    subprocess.run(cmd, cwd=code, env=env, timeout=1800, check=True)
    data = json.loads(out.read_text())
    return {p: b.encode() for p, b in data["expected"].items()}, data["sql"]


def prepare_here(args: argparse.Namespace) -> None:
    """``--prepare DIR``: run by :func:`prepare_elsewhere` inside the other checkout."""
    import provisioner

    assert Path(provisioner.__file__).resolve().is_relative_to(Path.cwd().resolve()), (
        f"imported {provisioner.__file__}, not the checkout in {Path.cwd()}"
    )
    settings = settings_for(args.prepare, args.database_url or None)
    populate(settings, args.nodes, args.action)
    macs = [mac_of(i) for i in range(args.nodes)]
    expected = expected_files(settings, macs, args.base_url)
    sql = count_sql(settings, macs, args.sql_requests)
    body = {"expected": {p: b.decode() for p, b in expected.items()}, "sql": sql}
    args.out.write_text(json.dumps(body))


# -- the run -----------------------------------------------------------------------------
def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def version(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        text = (p.stdout + p.stderr).strip()
        return text.splitlines()[0] if text else ""
    return ""


def host() -> dict[str, Any]:
    """The machine a benchmark ran on: CPUs, model, kernel, Python, load average."""
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                x.split(":", 1)[1].strip()
                for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")
            ),
            "",
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
    }


def machine() -> dict[str, Any]:
    import gunicorn

    return {
        **host(),
        "gunicorn": gunicorn.__version__,
        "nginx": version([NGINX, "-v"]),
        "wrk": version([WRK, "-v"]),
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "provisioner", "pxelinux", "tftp",
                              "media", "app.py"))}  # fmt: skip


def measure(
    servers: dict[str, dict[str, Any]], args: argparse.Namespace, work: Path
) -> list[dict[str, Any]]:
    runs = []
    names = list(servers)
    cases = [(c, ka) for c in args.connections for ka in (True, False)]
    for rnd in range(args.rounds):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for connections, keepalive in cases:
            for name in order:
                s = servers[name]
                pids = tree(s["pid"])
                cpu0, load0 = cpu_seconds(pids), loadavg()
                r = run_wrk(
                    s["port"], s["script"], connections, keepalive, args.duration, args.wrk_threads
                )
                r["server_cpu_s"] = cpu_seconds(pids) - cpu0
                r["server_cpu_us_per_req"] = r["server_cpu_s"] / max(r["requests"], 1) * 1e6
                r.update(
                    server=name,
                    round=rnd,
                    connections=connections,
                    keepalive=keepalive,
                    loadavg_before=load0,
                    rss_kib=rss_kib(tree(s["pid"])),
                )
                runs.append(r)
                bad = r["bad_status"] + r["bad_body"] + sum(r["errors"].values())
                print(
                    f"  round {rnd} c={connections:<3} {'keep-alive' if keepalive else 'close':10}"
                    f" {name:18} {r['rps']:8.0f} req/s  p50 {r['latency_us']['p50'] / 1000:6.2f} ms"
                    f"  p99 {r['latency_us']['p99'] / 1000:6.2f} ms"
                    f"  cpu {r['server_cpu_us_per_req']:6.0f} us/req"
                    f"{f'  PROBLEMS {bad}' if bad else ''}",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(args.pause)
    return runs


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per (server, connections, keep-alive): medians over the rounds."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        key = f"{r['server']} c={r['connections']} {'keepalive' if r['keepalive'] else 'close'}"
        groups.setdefault(key, []).append(r)
    out = {}
    for key, rs in groups.items():
        out[key] = {
            "server": rs[0]["server"],
            "connections": rs[0]["connections"],
            "keepalive": rs[0]["keepalive"],
            "rounds": len(rs),
            "rps_median": statistics.median(r["rps"] for r in rs),
            "rps_runs": [round(r["rps"]) for r in rs],
            "p50_ms_median": statistics.median(r["latency_us"]["p50"] for r in rs) / 1000,
            "p99_ms_median": statistics.median(r["latency_us"]["p99"] for r in rs) / 1000,
            "cpu_us_per_req_median": statistics.median(r["server_cpu_us_per_req"] for r in rs),
            "requests": sum(r["requests"] for r in rs),
            "checked": sum(r["checked"] for r in rs),
            "bad": sum(r["bad_status"] + r["bad_body"] + sum(r["errors"].values()) for r in rs),
        }
    return out


def table(summary: dict[str, dict[str, Any]], reference: str = "nginx") -> str:
    lines = [
        "| server | conns | keep-alive | req/s (median) | rounds | p50 ms | p99 ms "
        "| server CPU µs/req | / nginx | bad |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for s in sorted(
        summary.values(), key=lambda s: (s["connections"], not s["keepalive"], s["server"])
    ):
        ref = summary.get(
            f"{reference} c={s['connections']} {'keepalive' if s['keepalive'] else 'close'}"
        )
        ratio = f"{s['rps_median'] / ref['rps_median']:.3f}" if ref else "-"
        lines.append(
            f"| {s['server']} | {s['connections']} | {'yes' if s['keepalive'] else 'no'} "
            f"| {s['rps_median']:.0f} | {' '.join(map(str, s['rps_runs']))} "
            f"| {s['p50_ms_median']:.2f} | {s['p99_ms_median']:.2f} "
            f"| {s['cpu_us_per_req_median']:.0f} | {ratio} | {s['bad']} |"
        )
    return "\n".join(lines)


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = [
        f"| case | {old['label']} req/s | {new['label']} req/s | ratio "
        f"| {old['label']} p99 ms | {new['label']} p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, n in new["summary"].items():
        o = old["summary"].get(key)
        if o:
            lines.append(
                f"| {key} | {o['rps_median']:.0f} | {n['rps_median']:.0f} "
                f"| {n['rps_median'] / o['rps_median']:.2f} "
                f"| {o['p99_ms_median']:.2f} | {n['p99_ms_median']:.2f} |"
            )
    return "\n".join(lines)


def versus_baseline(summary: dict[str, dict[str, Any]]) -> str:
    """This tree against the baseline commit, same run, case by case."""
    lines = [
        "| case | before req/s | after req/s | ratio | before p99 ms | after p99 ms "
        "| before CPU µs/req | after CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, n in sorted(summary.items()):
        if not key.startswith("provisioner-"):
            continue
        o = summary.get(key.replace("provisioner-", "before-", 1))
        if o:
            lines.append(
                f"| {key.removeprefix('provisioner-')} | {o['rps_median']:.0f} "
                f"| {n['rps_median']:.0f} | {n['rps_median'] / o['rps_median']:.2f} "
                f"| {o['p99_ms_median']:.2f} | {n['p99_ms_median']:.2f} "
                f"| {o['cpu_us_per_req_median']:.0f} | {n['cpu_us_per_req_median']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--label",
        default="latest",
        help="names the results file benchmarks/results/bootcfg-LABEL.json",
    )
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads (1 leaves the most of 2 cores to the servers)",
    )
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between runs")
    ap.add_argument("--sql-requests", type=int, default=200)
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--compare", type=Path, help="an earlier results file to compare with")
    ap.add_argument(
        "--action", choices=["install", "local"], default="install", help="every node's action"
    )
    ap.add_argument("--baseline", metavar="REF", help="also serve commit REF's code, same run")
    ap.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--database-url", help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        prepare_here(args)
        return
    if not re.fullmatch(r"[A-Za-z0-9._-]+", args.label):
        ap.error("--label: letters, digits, . _ - only")
    if not Path(WRK).exists():
        ap.error("wrk not found: apt-get install wrk")

    started = datetime.now(UTC)
    t0 = time.monotonic()
    meta = {
        "label": args.label,
        "started_utc": started.isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": machine(),
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    macs = [mac_of(i) for i in range(args.nodes)]
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bootcfg-bench-")))
        stores: dict[str, Any] = {"provisioner-sqlite": settings_for(work / "sqlite", None)}
        before_db: dict[str, str | None] = {"provisioner-sqlite": None}
        if not args.no_pg:
            pg = stack.enter_context(start_private_cluster())
            if pg is None:
                print("PostgreSQL not installed: SQLite only", file=sys.stderr)
            else:
                pg.create_database("bootcfg_bench")
                stores["provisioner-pg"] = settings_for(work / "pg", pg.url_for("bootcfg_bench"))
                if args.baseline:
                    pg.create_database("bootcfg_before")
                    before_db["provisioner-pg"] = pg.url_for("bootcfg_before")
        for name, settings in stores.items():
            t = time.monotonic()
            populate(settings, args.nodes, args.action)
            print(f"{name}: {args.nodes} nodes in {time.monotonic() - t:.1f} s", file=sys.stderr)
        sql = {}
        for name, settings in stores.items():
            sql[name] = count_sql(settings, macs, args.sql_requests)
            print(f"{name}: per request {sql[name]['per_request']}", file=sys.stderr)

        servers: dict[str, dict[str, Any]] = {}
        ports = {name: free_tcp_port() for name in stores}
        for name, settings in stores.items():
            exp = expected_files(settings, macs, f"http://127.0.0.1:{ports[name]}")
            pid = stack.enter_context(provisioner_serve(work, name, settings, ports[name]))
            servers[name] = {"port": ports[name], "pid": pid, "expected": exp}
        if args.baseline:
            code, commit = stack.enter_context(baseline_checkout(args.baseline, work))
            meta["baseline"] = commit
            for name in stores:
                before = name.replace("provisioner", "before")
                port = free_tcp_port()
                data_dir = work / f"{before}-data"
                bs = settings_for(data_dir, before_db[name])
                exp, sql[before] = prepare_elsewhere(
                    code, bs, args, f"http://127.0.0.1:{port}", work
                )
                pid = stack.enter_context(provisioner_serve(work, before, bs, port, code))
                servers[before] = {"port": port, "pid": pid, "expected": exp}
                print(f"{before} ({commit}): {sql[before]['per_request']}", file=sys.stderr)
        # nginx: the SQLite server's files, byte for byte, at the same paths
        first = next(iter(servers.values()))
        root = work / "nginx-root"
        for path, body in first["expected"].items():
            f = root / path.lstrip("/")
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(body)
        port = free_tcp_port()
        stack.enter_context(nginx(work / "nginx", static_conf(port, root), port, workers=2))
        nginx_pid = int((work / "nginx" / "nginx.pid").read_text())
        servers["nginx"] = {"port": port, "pid": nginx_pid, "expected": first["expected"]}
        # interleave: ours, nginx, ours (PostgreSQL)
        order = ["provisioner-sqlite", "before-sqlite", "nginx", "provisioner-pg", "before-pg"]
        servers = {k: servers[k] for k in order if k in servers}
        verify = {}
        for name, s in servers.items():
            verify[name] = verify_all(s["port"], s["expected"])
            script = work / f"{name}.lua"
            script.write_text(lua_script(s["expected"], SEED))
            s["script"] = script
            s["rss_kib_start"] = rss_kib(tree(s["pid"]))
            print(
                f"{name}: all {len(s['expected'])} URLs verified in {verify[name]:.2f} s",
                file=sys.stderr,
            )
        runs = measure(servers, args, work)
        rss_end = {name: rss_kib(tree(s["pid"])) for name, s in servers.items()}
        rss_start = {name: s["rss_kib_start"] for name, s in servers.items()}
        log_lines = {
            name: sum(1 for _ in (work / f"{name}.log").open("rb"))
            for name in servers
            if (work / f"{name}.log").exists()
        }

    summary = summarize(runs)
    meta["machine"]["loadavg_end"] = loadavg()
    result = {
        **meta,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "sql_per_request": sql,
        "verify_all_seconds": verify,
        "rss_kib": {"start": rss_start, "end": rss_end},
        "server_log_lines": log_lines,
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bootcfg-{args.label}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(summary))
    print()
    for name, s in sql.items():
        per = s["per_request"]
        print(
            f"{name}: per request {per.get('sessions', 0):g} sessions, "
            f"{per.get('statements', 0):g} statements, tables {', '.join(s['distinct_tables'])}"
        )
    if args.baseline:
        print(f"\nbefore = {meta['baseline']}, after = this tree, same run:")
        print(versus_baseline(summary))
    if args.compare:
        print()
        print(compare(json.loads(args.compare.read_text()), result))
    bad = sum(s["bad"] for s in summary.values())
    print(f"\n{out.relative_to(ROOT)}; {result['seconds']} s; problems: {bad}", file=sys.stderr)
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
