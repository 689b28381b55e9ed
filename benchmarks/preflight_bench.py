"""The preflight check over a whole rack: ``provisioner node check`` and
``GET /api/v1/nodes?problems=1`` with 1,000 nodes, server side (in-process).

    .venv/bin/python -m benchmarks.preflight_bench
    .venv/bin/python -m benchmarks.preflight_bench --nodes 5000 --no-pg

What it does:

* fills a store in-process with the boot-config benchmark's data
  (:func:`benchmarks.bootcfg_bench.populate`: 1 release, 2 bundles, 4 profiles, ``--nodes``
  nodes with their own ``ip.``, action install), each node through
  ``Service.save_node`` and so through the check; an empty boot tree and bundles without
  uploads give most nodes a warning or two, so the listing is the worst case: every
  node in it. Once in SQLite and, unless ``--no-pg``, once in PostgreSQL (a private
  cluster, tests/support/pg.py);
* times, ``--rounds`` times each, on a fresh ``Service`` (as a new CLI process has):
  ``Service.rack_problems()`` cold (the boot snapshot loaded from the database, the IP
  map built, every node checked) and warm (the snapshot already loaded: the check
  alone); ``GET /api/v1/nodes?problems=1`` through the Flask test client (the check,
  the node views and the JSON); and one ``Service.save_node`` (a PATCH of one node's
  hostname: one node checked against the rack);
* prints the median and the fastest round of each, in milliseconds, and writes
  the raw figures to ``benchmarks/results/preflight-LABEL.json``.

In-process only: no port is opened; the temp directory and the PostgreSQL cluster are
removed at the end.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bootcfg_bench import loadavg, mac_of, populate
from benchmarks.inprocess import arguments, run_meta, stores

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def timed(fn: Callable[[], object], rounds: int) -> dict[str, Any]:
    ms = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        ms.append(round((time.perf_counter() - t) * 1000, 2))
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "rounds_ms": ms}


def measure(settings: Any, rounds: int, nodes: int) -> dict[str, Any]:
    from provisioner.db import open_store
    from provisioner.domain import Role
    from provisioner.service import Service
    from provisioner.web import create_app

    store = open_store(settings)
    try:
        found = Service(store, settings).rack_problems()
        listed = {
            "nodes": nodes,
            "with_problems": len(found),
            "errors": sum(p.is_error for ps in found.values() for p in ps),
            "warnings": sum(not p.is_error for ps in found.values() for p in ps),
        }
        cold = timed(lambda: Service(store, settings).rack_problems(), rounds)
        warm_service = Service(store, settings)
        warm_service.rack_problems()
        warm = timed(warm_service.rack_problems, rounds)
        app = create_app(settings, store)
        _, secret = app.extensions["provisioner"].service.create_token("bench", Role.ADMIN)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}

        def api() -> None:
            resp = client.get("/api/v1/nodes?problems=1", headers=headers)
            assert resp.status_code == 200
            assert len(resp.get_json()) == listed["with_problems"]

        http = timed(api, rounds)
        one = mac_of(nodes // 2)
        names = iter(range(10**6))
        put = timed(
            lambda: warm_service.save_node(one, {"hostname": f"b{next(names)}"}, partial=True),
            rounds,
        )
    finally:
        store.close()
    return {
        "rack": listed,
        "rack_problems_cold": cold,
        "rack_problems_warm": warm,
        "api_nodes_problems": http,
        "save_node_one": put,
    }


def main() -> None:
    args = arguments(__doc__, "preflight", rounds=7)
    meta = run_meta(args)
    results: dict[str, Any] = {}
    with stores("preflight", args.no_pg) as found:
        for name, settings in found.items():
            t = time.monotonic()
            populate(settings, args.nodes)
            fill = round(time.monotonic() - t, 1)
            print(f"{name}: {args.nodes} nodes put (each checked) in {fill} s", file=sys.stderr)
            results[name] = {"populate_s": fill, **measure(settings, args.rounds, args.nodes)}
    meta["loadavg_end"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"preflight-{args.label}.json"
    out.write_text(json.dumps({**meta, "results": results}, indent=2) + "\n")

    rows = [
        ("rack_problems_cold", "`Service.rack_problems()`, new service (snapshot loaded)"),
        ("rack_problems_warm", "`Service.rack_problems()`, snapshot warm (the check alone)"),
        ("api_nodes_problems", "`GET /api/v1/nodes?problems=1` (views and JSON too)"),
        ("save_node_one", "one `PATCH` of a node: `Service.save_node`"),
    ]
    names = list(results)
    print(f"\n{args.nodes} nodes; ms, median (fastest) of {args.rounds} rounds\n")
    print("| what | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for key, label in rows:
        cells = [f"{results[n][key]['median_ms']} ({results[n][key]['min_ms']})" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    rack = results[names[0]]["rack"]
    print(
        f"\nlisted: {rack['with_problems']} of {rack['nodes']} nodes, "
        f"{rack['errors']} errors, {rack['warnings']} warnings; raw figures: {out}"
    )


if __name__ == "__main__":
    main()
