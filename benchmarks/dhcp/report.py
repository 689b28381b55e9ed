#!/usr/bin/env python3
"""Print the result table of a bench.py results file and the one-line summary.

usage: report.py RESULTS.json [--markdown]
The ratio column is each config's median divided by the median of
kea-memfile-4way (or kea-memfile-2way for 2-way configs) from the SAME run (the same
machine state), which is the number a future check should compare, not the absolute rates.
"""

import json
import sys

LABEL = {
    "kea-memfile-4way": "Kea memfile persist=false, 1 thread",
    "kea-persist-4way": "Kea memfile persist=true (/tmp CSV), 1 thread",
    "kea-memfile-2way": "Kea memfile persist=false, 1 thread",
    "kea-memfile-4way-nopin": "Kea memfile persist=false, 1 thread, unpinned",
    "kea-mt2-memfile-4way": "Kea memfile persist=false, MT 2 threads, unpinned",
    "kea-mt2-persist-4way": "Kea memfile persist=true, MT 2 threads, unpinned",
    "dnsmasq-4way": "dnsmasq --no-ping, leasefile in /tmp",
    "dnsmasq-2way": "dnsmasq --no-ping, leasefile in /tmp",
    "dnsmasq-noleasefile-4way": "dnsmasq --no-ping --leasefile-ro (no lease file)",
    "dnsmasq-4way-100clients": "dnsmasq, 100 returning clients (perfdhcp -R 100)",
    "kea-memfile-4way-100clients": "Kea memfile persist=false, 100 returning clients (-R 100)",
    "provisioner-4way": "this project: provisioner.dhcp full mode, leases in SQLite",
    "provisioner-2way": "this project: provisioner.dhcp full mode, leases in SQLite",
    "provisioner-pg-4way": "this project: full mode, leases in PostgreSQL (fsync on)",
    "provisioner-pg-2way": "this project: full mode, leases in PostgreSQL (fsync on)",
    "provisioner-proxy-2way": "this project: proxy mode, PXE clients (options 60/93/94)",
    "python-ceiling-2way": "CEILING PROBE (not a server): Python asyncio fixed reply",
    "python-ceiling-4way": "CEILING PROBE (not a server): Python asyncio fixed reply",
}


def main():
    path = sys.argv[1]
    md = "--markdown" in sys.argv
    with open(path) as f:
        res = json.load(f)
    ref = {m: res.get(f"kea-memfile-{m}", {}).get("median_per_s") or 0 for m in ("4way", "2way")}
    hdr = [
        "config",
        "what",
        "mode",
        "srv CPU",
        "median/s",
        "runs/s",
        "ratio vs kea-memfile (same mode)",
        "ratio vs kea-persist",
    ]
    # perfdhcp's own ceiling seen in this run, per mode: the lowest send rate of
    # any step where it could not send what was asked (one core, busy-polling)
    ceil = {}
    for r in res.values():
        for rep in r.get("reps", []):
            for st in rep["steps"]:
                if st["client_limited"]:
                    m = r["mode"]
                    ceil[m] = min(ceil.get(m, 1e12), st["sent_per_s"])
    rows = []
    for name, r in res.items():
        med = r["median_per_s"]
        lb = (
            "≥"
            if r.get("client_limited")
            else ("~" if med >= 0.9 * ceil.get(r["mode"], 1e12) else "")
        )
        runs = " ".join(f"{v:.0f}" for v in r["runs_per_s"])
        rf = ref.get(r["mode"])
        ratio = f"{med / rf:.3f}" if rf else "-"
        persist = res.get("kea-persist-4way", {}).get("median_per_s") or 0
        ratio_p = f"{med / persist:.3f}" if persist and r["mode"] == "4way" else "-"
        rows.append(
            [
                name,
                LABEL.get(name, "server under test (--server)"),
                r["mode"],
                str(r["srv_cpu"]),
                f"{lb}{med:.0f}",
                runs,
                ratio,
                ratio_p,
            ]
        )
    if md:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
        fmt = "  ".join(f"{{:{'<' if i < 4 else '>'}{n}}}" for i, n in enumerate(w))
        print(fmt.format(*hdr))
        print(fmt.format(*("-" * n for n in w)))
        for row in rows:
            print(fmt.format(*row))
    any_r = next(iter(res.values()), {})
    print(
        f"\n(median of {len(any_r.get('runs_per_s', []))} ramps; "
        f"{any_r.get('step_secs', '?')} s steps; "
        f"perfdhcp pinned to CPU {any_r.get('cli_cpu', '?')}; "
        "completed exchanges/s at the highest offered "
        f"rate with <= 2.5% of exchanges unanswered within 1 s; ≥ = perfdhcp itself was the limit; "
        f"~ = within 10% of perfdhcp's ceiling seen in this run"
        + "".join(f", {m} ceiling ~{v:.0f} sends/s" for m, v in sorted(ceil.items()))
        + ")"
    )
    parts = []
    for name, label in (
        ("provisioner-4way", "provisioner 4way"),
        ("provisioner-2way", "provisioner 2way"),
        ("provisioner-pg-4way", "provisioner-pg 4way"),
        ("provisioner-proxy-2way", "provisioner-proxy 2way"),
        ("kea-memfile-4way", "kea-memfile 4way"),
        ("dnsmasq-4way", "dnsmasq 4way"),
        ("python-ceiling-2way", "python-ceiling 2way"),
    ):
        if name in res:
            lb = "≥" if res[name].get("client_limited") else ""
            parts.append(f"{label} {lb}{res[name]['median_per_s']:.0f}/s")
    print("; ".join(parts))


if __name__ == "__main__":
    main()
