"""The web console's rack overview with 1,000 nodes, server side (in-process):
the time to render ``GET /ui/`` against ``GET /api/v1/nodes`` (the JSON list of
the same nodes) measured in the same run as the reference.

    .venv/bin/python -m benchmarks.web_bench
    .venv/bin/python -m benchmarks.web_bench --nodes 5000 --no-pg

What it does:

* fills a store with the boot-config benchmark's data
  (:func:`benchmarks.bootcfg_bench.populate`: 1 release, 2 bundles, 4 profiles,
  ``--nodes`` nodes with their own ``ip.``, action install) and 3 events per node
  (the rack shows each node's newest); once in SQLite and, unless ``--no-pg``, once
  in PostgreSQL (a private cluster, tests/support/pg.py);
* logs a console user in and makes an admin API token, both through the Flask test
  client of one app (as one gunicorn worker would be);
* times, ``--rounds`` times each, taking turns: the rack table (every node, sorted by
  host name), the grid (``?view=grid``), a search and sort (``?q=52:54&sort=ip``),
  the grid's poll (``/ui/rack/states.json``) and the reference ``GET /api/v1/nodes``;
  each answer is checked (200, every node in it);
* prints the median and the fastest round of each in milliseconds, and writes the raw
  figures to ``benchmarks/results/web-LABEL.json``.

In-process only: no port is opened; the temp directory and the PostgreSQL cluster are
removed at the end.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bootcfg_bench import loadavg, mac_of, populate
from benchmarks.inprocess import arguments, run_meta, stores

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PASSWORD = "bench-password"
PAGES = {
    "rack_table": ("/ui/", "the rack table, every node"),
    "rack_grid": ("/ui/?view=grid", "the rack grid (`?view=grid`)"),
    "rack_search": ("/ui/?q=52:54&sort=ip&dir=desc", "search and sort (`?q=52:54&sort=ip`)"),
    "rack_states": ("/ui/rack/states.json", "the grid's poll (`/ui/rack/states.json`)"),
    "api_nodes": ("/api/v1/nodes", "reference: `GET /api/v1/nodes` (JSON)"),
}


def add_events(settings: Any, nodes: int) -> None:
    from provisioner.db import open_store
    from provisioner.domain import Event

    store = open_store(settings)
    try:
        for i in range(nodes):
            for step in ("boot.dhcp", "boot.kernel", "install.image"):
                store.add_event(Event(step, f"{step} of node {i}", mac=mac_of(i)))
    finally:
        store.close()


def measure(settings: Any, rounds: int, nodes: int) -> dict[str, Any]:
    from provisioner.db import open_store
    from provisioner.domain import Role
    from provisioner.web import create_app

    store = open_store(settings)
    try:
        app = create_app(settings, store)
        ctx = app.extensions["provisioner"]
        ctx.accounts.add_user("bench", Role.VIEWER, PASSWORD)
        _, secret = ctx.service.create_token("bench", Role.ADMIN)
        client = app.test_client()
        page = client.get("/ui/login").get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found is not None
        login = {"name": "bench", "password": PASSWORD, "csrf_token": found.group(1)}
        assert client.post("/ui/login", data=login).status_code == 303
        headers = {"Authorization": f"Bearer {secret}"}

        def get(path: str) -> None:
            resp = client.get(path, headers=headers if path.startswith("/api/") else {})
            assert resp.status_code == 200, (path, resp.status_code)
            body = resp.get_data(as_text=True)
            assert body.count("52:54:00:") >= nodes, path

        for path, _ in PAGES.values():  # warm: templates compiled, snapshot loaded
            get(path)
        results: dict[str, list[float]] = {key: [] for key in PAGES}
        for _ in range(rounds):  # taking turns: load from elsewhere hits all alike
            for key, (path, _) in PAGES.items():
                t = time.perf_counter()
                get(path)
                results[key].append(round((time.perf_counter() - t) * 1000, 2))
        sizes = {
            key: len(client.get(p, headers=headers).get_data()) for key, (p, _) in PAGES.items()
        }
    finally:
        store.close()
    return {
        key: {
            "median_ms": statistics.median(ms),
            "min_ms": min(ms),
            "rounds_ms": ms,
            "bytes": sizes[key],
        }
        for key, ms in results.items()
    }


def main() -> None:
    args = arguments(__doc__, "web", rounds=9)
    meta = run_meta(args)
    results: dict[str, Any] = {}
    with stores("web", args.no_pg) as found:
        for name, settings in found.items():
            t = time.monotonic()
            populate(settings, args.nodes)
            add_events(settings, args.nodes)
            print(f"{name}: {args.nodes} nodes in {time.monotonic() - t:.1f} s", file=sys.stderr)
            results[name] = measure(settings, args.rounds, args.nodes)
    meta["loadavg_end"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"web-{args.label}.json"
    out.write_text(json.dumps({**meta, "results": results}, indent=2) + "\n")

    names = list(results)
    print(f"\n{args.nodes} nodes; ms, median (fastest) of {args.rounds} rounds; KiB\n")
    print("| what | " + " | ".join(names) + " | size |")
    print("|---|" + "---:|" * len(names) + "---:|")
    for key, (_, label) in PAGES.items():
        cells = [f"{results[n][key]['median_ms']} ({results[n][key]['min_ms']})" for n in names]
        size = results[names[0]][key]["bytes"] // 1024
        print(f"| {label} | " + " | ".join(cells) + f" | {size} |")
    print(f"\nraw figures: {out}; load average at the end: {meta['loadavg_end']}")


if __name__ == "__main__":
    main()
