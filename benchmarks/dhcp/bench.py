#!/usr/bin/env python3
"""DHCPv4 throughput driver used by run.sh (do not run it directly: run.sh
creates the namespaces it expects and removes them afterwards).

Method (ISC's Kea perf-lab method, scaled down):
  * a "step" = fresh server start (empty lease state) + one perfdhcp run at a
    fixed offered rate R for D seconds, many distinct clients (-R 1e8, so every
    exchange is a new client), then 1 s of extra wait for late replies (-W);
  * an exchange is dropped if its reply does not arrive within 1 s
    (perfdhcp -d 1, the default): drop% = 100 * (1 - completed / initiated),
    completed = ACKs (4-way) or OFFERs (2-way, perfdhcp -i);
  * a step passes if drop% <= 2.5 and perfdhcp really sent >= 95% of R*D
    (otherwise the *client* was the limit: the step counts as a fail, and if
    it is the fail right above the result, the result is flagged a lower bound);
  * ramp: R *= 2 from a start hint until a step fails (later repetitions:
    R *= 1.25 from 0.7 x the previous result), then bisect (geometric)
    between the last pass and the first fail down to 6% spacing;
  * the result of one ramp is the completed-exchanges/s of the best passing
    step; the ramp is repeated --reps times and the median is reported.

Every process started here runs under `timeout` and is stopped by its PID;
PIDs are appended to $WORK/pids so run.sh's EXIT trap can stop leftovers.
"""

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time

P = argparse.ArgumentParser()
P.add_argument("--work", required=True)
P.add_argument("--ns-srv", required=True)
P.add_argument("--ns-cli", required=True)
P.add_argument("--if-srv", required=True)
P.add_argument("--srv-addr", default="192.0.2.1")
P.add_argument("--cli-addr", default="192.0.2.2")
P.add_argument("--srv-cpu", default="1", help="taskset list for the server ('' = no pinning)")
P.add_argument("--cli-cpu", default="0", help="taskset list for perfdhcp ('' = no pinning)")
P.add_argument("--step-secs", type=int, default=4, help="perfdhcp -p (integer seconds)")
P.add_argument("--reps", type=int, default=3)
P.add_argument("--drop-pct", type=float, default=2.5)
P.add_argument("--max-rate", type=int, default=150000)
P.add_argument(
    "--only", default="", help="comma list of config names, or 'quick' (default: DEFAULT set)"
)
P.add_argument(
    "--clients",
    type=int,
    default=100000000,
    help="perfdhcp -R: distinct simulated clients (default 1e8: every exchange a new client)",
)
P.add_argument(
    "--fixed-rate",
    type=int,
    default=0,
    help="diagnostic: one step per rep at this offered rate instead of a ramp",
)
P.add_argument(
    "--server",
    action="append",
    default=[],
    metavar="NAME=CMD",
    help="extra server under test; adds configs NAME-4way and NAME-2way. CMD is split "
    "with shlex after substituting {iface} {srv_addr} {cli_addr} {work} {pool_start} "
    "{pool_end}; it must serve relayed requests (giaddr {cli_addr}) from the pool on "
    "{srv_addr}:67 and answer to giaddr:67",
)
P.add_argument(
    "--server-perfdhcp",
    action="append",
    default=[],
    metavar="NAME=ARGS",
    help="extra perfdhcp arguments for server NAME's configs (e.g. -o options a PXE client sends)",
)
P.add_argument("--perfdhcp-threads", default="single", choices=["single", "multi"])
P.add_argument("--results", required=True, help="JSON output file")
A = P.parse_args()

HERE = os.path.dirname(os.path.abspath(__file__))
PIDS = os.path.join(A.work, "pids")
LOG = os.path.join(A.work, "steps.log")
POOL = ("198.18.0.10", "198.19.255.250")  # RFC 2544 benchmarking range, /15
POOL_SIZE = 131057  # addresses in POOL

# ----------------------------------------------------------------- processes


def wrap(secs, ns, cpu, argv):
    cmd = ["timeout", "-k", "3", str(int(secs)), "ip", "netns", "exec", ns]
    if cpu:
        cmd += ["taskset", "-c", cpu]
    return cmd + list(argv)


LIVE = set()  # Popen objects of running `timeout ...` wrappers


def note_pid(proc):
    LIVE.add(proc)
    with open(PIDS, "a") as f:
        f.write(f"{proc.pid}\n")


def on_term(signum, _frame):
    """SIGTERM/SIGINT: stop everything we started (by PID), reap it, exit."""
    for p in list(LIVE):
        with contextlib.suppress(Exception):
            stop(p)
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def children(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def stop(proc, grace=5.0):
    """Stop a `timeout ...` Popen by PID: TERM to timeout (it forwards the
    signal to its child), then KILL the child PID and timeout if needed."""
    LIVE.discard(proc)
    if proc.poll() is not None:
        return proc.returncode
    kids = children(proc.pid)
    os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        for k in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(k, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(5)


def udp67_bound(ns):
    r = subprocess.run(
        ["timeout", "5", "ip", "netns", "exec", ns, "ss", "-Hlun", "sport = :67"],
        capture_output=True,
        text=True,
    )
    return bool(r.stdout.strip())


# ------------------------------------------------------------------- servers


def kea_config(name, persist, mt, threads=2):
    lease_db = {"type": "memfile", "persist": persist}
    if persist:
        lease_db["name"] = os.path.join(A.work, "kea-leases4.csv")
        lease_db["lfc-interval"] = 3600
    cfg = {
        "Dhcp4": {
            "interfaces-config": {"interfaces": [A.if_srv], "dhcp-socket-type": "udp"},
            "lease-database": lease_db,
            "valid-lifetime": 7200,
            "renew-timer": 1800,
            "rebind-timer": 3600,
            "subnet4": [
                {
                    "id": 1,
                    "subnet": "198.18.0.0/15",
                    "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                    "relay": {"ip-addresses": [A.cli_addr]},
                }
            ],
            "multi-threading": (
                {
                    "enable-multi-threading": True,
                    "thread-pool-size": threads,
                    "packet-queue-size": 64,
                }
                if mt
                else {"enable-multi-threading": False}
            ),
            "loggers": [
                {
                    "name": "kea-dhcp4",
                    "severity": "WARN",
                    "output_options": [{"output": os.path.join(A.work, f"{name}.log")}],
                }
            ],
        }
    }
    path = os.path.join(A.work, f"{name}.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


class Server:
    def __init__(self, name, argv, env=None, pre=None, cpu=None):
        self.name, self.argv, self.env, self.pre = name, argv, env, pre
        self.cpu = A.srv_cpu if cpu is None else cpu
        self.proc = None

    def start(self, budget):
        if self.pre:
            self.pre()
        out = open(os.path.join(A.work, f"{self.name}.out"), "ab")  # noqa: SIM115 - the child keeps it
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(
            wrap(budget, A.ns_srv, self.cpu, self.argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        note_pid(self.proc)
        t0 = time.time()
        while time.time() - t0 < 15:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited rc={self.proc.returncode}, see {out.name}")
            if udp67_bound(A.ns_srv):
                time.sleep(0.3)
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not bind udp/67 in 15 s")

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


def rm(*paths):
    def f():
        for p in paths:
            for q in (p, p + ".2", p + ".completed", p + ".output", p + ".pid"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(q)

    return f


KEA_ENV = {"KEA_PIDFILE_DIR": A.work, "KEA_LOCKFILE_DIR": "none"}
DNSMASQ_LEASES = os.path.join(A.work, "dnsmasq.leases")
DNSMASQ = [
    "/usr/sbin/dnsmasq",
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--port=0",
    "--no-ping",
    "--quiet-dhcp",
    f"--interface={A.if_srv}",
    "--bind-interfaces",
    "--dhcp-authoritative",
    f"--dhcp-leasefile={DNSMASQ_LEASES}",
    f"--dhcp-range={POOL[0]},{POOL[1]},255.254.0.0,2h",
    f"--shared-network={A.cli_addr},198.18.0.0",
    "--dhcp-lease-max=200000",
    f"--pid-file={A.work}/dnsmasq.pid",
    f"--log-facility={A.work}/dnsmasq.log",
]
DNSMASQ_RO = [a for a in DNSMASQ if not a.startswith("--dhcp-leasefile=")] + ["--leasefile-ro"]
PROBE = ["/usr/bin/python3", os.path.join(HERE, "ceiling_probe.py"), A.srv_addr, "67"]


def KEA(cfg):
    return ["/usr/sbin/kea-dhcp4", "-c", cfg]


BOTH_CPUS = ""  # no taskset: the server may use both cores (shared with perfdhcp)

# name -> (server factory, mode, ramp start rate).  Start rates are only hints
# (set well below this host's results); a start that fails ramps down by halves.
KEA_LEASES = os.path.join(A.work, "kea-leases4.csv")
CONFIGS = {
    "kea-memfile-4way": (
        lambda: Server("kea", KEA(kea_config("kea", False, False)), KEA_ENV),
        "4way",
        2000,
    ),
    "kea-persist-4way": (
        lambda: Server("kea", KEA(kea_config("kea", True, False)), KEA_ENV, pre=rm(KEA_LEASES)),
        "4way",
        2000,
    ),
    "kea-memfile-2way": (
        lambda: Server("kea", KEA(kea_config("kea", False, False)), KEA_ENV),
        "2way",
        2000,
    ),
    "kea-memfile-4way-nopin": (
        lambda: Server("kea", KEA(kea_config("kea", False, False)), KEA_ENV, cpu=BOTH_CPUS),
        "4way",
        2000,
    ),
    "kea-mt2-memfile-4way": (
        lambda: Server("kea", KEA(kea_config("kea", False, True)), KEA_ENV, cpu=BOTH_CPUS),
        "4way",
        2000,
    ),
    "kea-mt2-persist-4way": (
        lambda: Server(
            "kea", KEA(kea_config("kea", True, True)), KEA_ENV, cpu=BOTH_CPUS, pre=rm(KEA_LEASES)
        ),
        "4way",
        2000,
    ),
    "dnsmasq-4way": (lambda: Server("dnsmasq", DNSMASQ, pre=rm(DNSMASQ_LEASES)), "4way", 200),
    "dnsmasq-2way": (lambda: Server("dnsmasq", DNSMASQ, pre=rm(DNSMASQ_LEASES)), "2way", 2000),
    # extras (not in the default set): no lease file; 100 returning clients instead of all-new ones
    "dnsmasq-noleasefile-4way": (lambda: Server("dnsmasq", DNSMASQ_RO), "4way", 200),
    "dnsmasq-4way-100clients": (
        lambda: Server("dnsmasq", DNSMASQ, pre=rm(DNSMASQ_LEASES)),
        "4way",
        2000,
        100,
    ),
    "kea-memfile-4way-100clients": (
        lambda: Server("kea", KEA(kea_config("kea", False, False)), KEA_ENV),
        "4way",
        2000,
        100,
    ),
    "python-ceiling-2way": (lambda: Server("probe", PROBE), "2way", 2000),
    "python-ceiling-4way": (lambda: Server("probe", PROBE), "4way", 2000),
}
USER_CONFIGS = []
PERFDHCP_EXTRA = {}  # config name -> extra perfdhcp arguments
for spec in A.server_perfdhcp:
    pname, _, pargs = spec.partition("=")
    for pmode in ("4way", "2way"):
        PERFDHCP_EXTRA[f"{pname}-{pmode}"] = shlex.split(pargs)
for spec in A.server:
    uname, _, ucmd = spec.partition("=")
    if not uname or not ucmd:
        sys.exit(f"--server wants NAME=CMD, got {spec!r}")
    uargv = shlex.split(
        ucmd.format(
            iface=A.if_srv,
            srv_addr=A.srv_addr,
            cli_addr=A.cli_addr,
            work=A.work,
            pool_start=POOL[0],
            pool_end=POOL[1],
        )
    )
    for umode in ("4way", "2way"):
        CONFIGS[f"{uname}-{umode}"] = ((lambda n=uname, a=uargv: Server(n, a)), umode, 500)
        USER_CONFIGS.append(f"{uname}-{umode}")

QUICK = ["kea-memfile-4way", "dnsmasq-4way", "python-ceiling-2way"]
EXTRAS = ["dnsmasq-noleasefile-4way", "dnsmasq-4way-100clients", "kea-memfile-4way-100clients"]
DEFAULT = [n for n in CONFIGS if n not in EXTRAS]


def pinning(name):
    return (
        "0-1 (unpinned)" if ("mt2" in name or "nopin" in name) else A.srv_cpu
    ) or "0-1 (unpinned)"


# ------------------------------------------------------------------ perfdhcp


def grab(section, key, text):
    m = re.search(r"\*\*\*Statistics for: " + section + r"\*\*\*(.*?)(?:\*\*\*|\Z)", text, re.S)
    if not m:
        return 0
    k = re.search(r"^" + key + r": (\d+)", m.group(1), re.M)
    return int(k.group(1)) if k else 0


def perfdhcp(rate, mode, secs, clients, extra=()):
    argv = [
        "/usr/sbin/perfdhcp",
        "-4",
        "-g",
        A.perfdhcp_threads,
        "-l",
        A.cli_addr,
        "-L",
        "67",
        "-r",
        str(rate),
        "-p",
        str(secs),
        "-d",
        "1",
        "-W",
        "1000000",
        "-R",
        str(clients),
        "-t",
        "1",
    ]
    if mode == "2way":
        argv.append("-i")
    argv.extend(extra)
    argv.append(A.srv_addr)
    p = subprocess.Popen(
        wrap(secs + 20, A.ns_cli, A.cli_cpu, argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    note_pid(p)
    try:
        out, _ = p.communicate(timeout=secs + 30)
    except subprocess.TimeoutExpired:
        stop(p)
        out, _ = p.communicate()
    LIVE.discard(p)
    do_sent = grab("DISCOVER-OFFER", "sent packets", out)
    do_recv = grab("DISCOVER-OFFER", "received packets", out)
    ra_sent = grab("REQUEST-ACK", "sent packets", out)
    ra_recv = grab("REQUEST-ACK", "received packets", out)
    done = do_recv if mode == "2way" else ra_recv
    drop = 100.0 * (1 - done / do_sent) if do_sent else 100.0
    return {
        "rate": rate,
        "rc": p.returncode,
        "do_sent": do_sent,
        "do_recv": do_recv,
        "ra_sent": ra_sent,
        "ra_recv": ra_recv,
        "done": done,
        "drop_pct": round(drop, 3),
        "done_per_s": round(done / secs, 1),
        "sent_per_s": round(do_sent / secs, 1),
        "client_limited": do_sent < 0.95 * rate * secs,
        "raw": out,
    }


# ---------------------------------------------------------------------- ramp


def step(name, factory, mode, rate):
    srv = factory()
    clients = CONFIGS[name][3] if len(CONFIGS[name]) > 3 else A.clients
    budget = A.step_secs + 60
    try:
        srv.start(budget)
        r = perfdhcp(rate, mode, A.step_secs, clients, PERFDHCP_EXTRA.get(name, ()))
        if srv.proc.poll() is not None:
            r["server_died"] = True
    finally:
        srv.stop()
    r["pass"] = r["drop_pct"] <= A.drop_pct and not r["client_limited"] and not r.get("server_died")
    if mode == "4way" and clients > POOL_SIZE and rate * A.step_secs > 0.9 * POOL_SIZE:
        r["pool_warning"] = True  # new clients may exhaust the /15: drops could be NAKs/no-offer
        print(
            f"   !! {rate}/s x {A.step_secs} s nears the pool size ({POOL_SIZE});"
            " use shorter steps",
            flush=True,
        )
    flag = "PASS" if r["pass"] else ("CLIENT-LIMITED" if r["client_limited"] else "fail")
    line = (
        f"{time.strftime('%H:%M:%S')} {name:22s} offered {rate:6d}/s sent {r['sent_per_s']:8.1f}/s "
        f"completed {r['done_per_s']:8.1f}/s drop {r['drop_pct']:6.2f}% {flag}"
    )
    print("   " + line, flush=True)
    with open(LOG, "a") as f:
        f.write(
            line
            + "\n"
            + "".join(
                "      | " + line + "\n"
                for line in r["raw"].splitlines()
                if line.startswith(("sent:", "Rate", "ERROR", "Error", "WARN"))
            )
        )
    del r["raw"]
    return r


def rnd(x):
    q = 50 if x < 5000 else 100 if x < 20000 else 250
    return max(q, int(round(x / q) * q))


def ramp(name, factory, mode, start, factor):
    """Return (best passing step or None, all steps, lower_bound_flag).
    A step that fails because perfdhcp could not send the offered rate counts
    as a fail for the search; if it is the one right above the result, the
    result is only a lower bound (the client, not the server, was the limit)."""
    steps = []

    def run(rate):
        r = step(name, factory, mode, rate)
        steps.append(r)
        return r

    best = hi = None
    rate = rnd(start)
    while rate <= A.max_rate:  # coarse ramp up
        r = run(rate)
        if not r["pass"]:
            hi = r
            break
        best, rate = r, rnd(rate * factor)
    if hi is None:  # never failed up to --max-rate
        return best, steps, True
    if best is None:  # failed at the start hint: ramp down by halves
        rate = rnd(hi["rate"] / 2)
        while best is None and rate >= 50:
            r = run(rate)
            if r["pass"]:
                best = r
            else:
                hi, rate = r, rnd(rate / 2)
        if best is None:
            return None, steps, False
    while hi["rate"] / best["rate"] > 1.06:  # geometric bisection
        mid = rnd((best["rate"] * hi["rate"]) ** 0.5)
        if mid <= best["rate"] or mid >= hi["rate"]:
            break
        r = run(mid)
        if r["pass"]:
            best = r
        else:
            hi = r
    return best, steps, bool(hi["client_limited"])


def summarize(name, reps):
    vals = [r["best"]["done_per_s"] if r["best"] else 0.0 for r in reps]
    return {
        "mode": CONFIGS[name][1],
        "median_per_s": statistics.median(vals),
        "runs_per_s": vals,
        "offered_at_best": [r["best"]["rate"] if r["best"] else 0 for r in reps],
        # a lower bound if most ramps stopped because perfdhcp could not send faster
        "client_limited": 2 * sum(r["client_limited"] for r in reps) > len(reps),
        "step_secs": A.step_secs,
        "reps": reps,
        "clients": CONFIGS[name][3] if len(CONFIGS[name]) > 3 else A.clients,
        "srv_cpu": pinning(name),
        "cli_cpu": A.cli_cpu or "0-1 (unpinned)",
    }


def main():
    if A.only == "quick":
        names = QUICK
    elif A.only:
        names = [n for n in A.only.split(",") if n]
    else:
        names = DEFAULT + [n for n in USER_CONFIGS if n not in DEFAULT]
    bad = [n for n in names if n not in CONFIGS]
    if bad:
        sys.exit(f"unknown config(s) {bad}; known: {list(CONFIGS)}")
    results = {}
    reps = {n: [] for n in names}
    # repetitions are the OUTER loop: every config is measured once per round,
    # so slow drift of a shared host spreads over all configs (fairer ratios)
    for i in range(A.reps):
        for name in names:
            factory, mode, start = CONFIGS[name][:3]
            print(f"== round {i + 1}/{A.reps}: {name} ({mode}), {A.step_secs} s steps", flush=True)
            # ramp 1: x2 from the start hint; later ramps: x1.25 from 0.7 x previous best
            prev = reps[name][-1]["best"] if reps[name] else None
            st, fac = (prev["rate"] * 0.7, 1.25) if prev else (start, 2.0)
            t0 = time.time()
            if A.fixed_rate:
                r = step(name, factory, mode, A.fixed_rate)
                best, steps, climited = (r if r["pass"] else None), [r], r["client_limited"]
            else:
                best, steps, climited = ramp(name, factory, mode, st, fac)
            reps[name].append(
                {
                    "best": best,
                    "steps": steps,
                    "client_limited": climited,
                    "secs": round(time.time() - t0, 1),
                }
            )
            b = best["done_per_s"] if best else 0
            print(
                f"   -> {b:.0f} exchanges/s completed"
                f"{' (perfdhcp was the limit: lower bound)' if climited else ''}",
                flush=True,
            )
            results[name] = summarize(name, reps[name])
            with open(A.results, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
