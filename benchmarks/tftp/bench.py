"""TFTP throughput: our server (``python -m tftp``) vs tftpd-hpa and dnsmasq, same run.

The three servers run side by side in one private network namespace (192.0.2.1:
dnsmasq on port 69, the only port it listens on; tftpd-hpa on 6969; ours on 6970)
and serve the same files; stock clients in a second namespace fetch them over a
veth pair and a bridge.

* one large file (``--size-mb``, default 50 MB): curl with blksize 512 and 1468,
  atftp asking for windowsize 16 (RFC 7440; a server without it answers lockstep);
* N clients at once, each fetching a 1 MiB file (``--concurrent``, default 50 200
  1000): curl processes (blksize 1468), all started by one shell inside the client
  namespace (``ip netns exec`` per client would measure namespace entry, not TFTP);
  every client's exit status and byte count is checked. Each run starts only after
  the servers have been silent for 2 s, so no retransmission left from the last
  run reaches a new client that happens to get the same port number. Not busybox
  ``tftp``: with hundreds at once, two of its processes end up sending from the
  same UDP port at the same time, and every server rightly takes the second one's
  request for a resend of the first's (one transfer ID per address and port), so
  it times out.

Each case runs against every server, alternately, ``--rounds`` times; the best
time counts (least disturbed by other load). A client that fails is reported next
to the figure (the most failures in any round), never left out silently. Output: a
Markdown table, MiB/s (aggregate from the first client's start to the last one's
end) and ratios.

    sudo .venv/bin/python -m benchmarks.tftp.bench --rounds 3

Needs root, iproute2, curl, atftp, dnsmasq and tftpd-hpa's ``in.tftpd``.
Every loop and process is bounded by a timeout; the namespaces, processes and
files are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.support import netns

SERVER = netns.SERVER_IP
PORTS = {"ours": 6970, "tftpd-hpa": 6969, "dnsmasq": 69}
CONCURRENT_FILE_SIZE = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
# the same session limit for the two servers that have one: the largest case fits
MAX_SESSIONS = 1100


def _single(port: int, name: str, out: Path, case: str) -> list[str]:
    url = f"tftp://{SERVER}:{port}/{name}"
    if case == "curl blksize 512":
        return ["curl", "-sS", "--tftp-blksize", "512", "-o", str(out), url]
    if case == "curl blksize 1468":
        return ["curl", "-sS", "--tftp-blksize", "1468", "-o", str(out), url]
    if case == "atftp blksize 1468 windowsize 16":
        return ["atftp", "--option", "blksize 1468", "--option", "windowsize 16",
                "-g", "-r", name, "-l", str(out), SERVER, str(port)]  # fmt: skip
    raise ValueError(case)


def _timed(client: netns.Netns, argv: list[str], timeout: float) -> float:
    started = time.monotonic()
    proc = client.run(*argv, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"client failed: {(proc.stderr or proc.stdout)[-300:]}")
    return time.monotonic() - started


# N curl clients, started back to back by one shell; each writes its own file (and
# on failure its error to the common stderr); the shell waits for all of them
_FAN_OUT = """
n=$1 port=$2 dir=$3 limit=$4
i=0
while [ "$i" -lt "$n" ]; do
    ( curl -sS --max-time "$limit" --tftp-blksize 1468 -o "$dir/out-$i" \
        "tftp://{server}:$port/one.bin" \
      || echo "client $i: exit $?" >&2 ) 2>>"$dir/stderr" &
    i=$((i + 1))
done
wait
""".replace("{server}", SERVER)


def _fan_out(
    client: netns.Netns, n: int, port: int, work: Path, timeout: float
) -> tuple[float, int, str]:
    """Seconds for ``n`` clients at once, how many failed, and the first error."""
    outdir = work / "fan"
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir()
    script = work / "fan.sh"
    script.write_text(_FAN_OUT)
    # every client gives up after `timeout` (curl --max-time); the shell a little later
    started = time.monotonic()
    client.run("timeout", "-k", "5", str(int(timeout) + 30), "sh", str(script),
               str(n), str(port), str(outdir), str(int(timeout)), timeout=timeout + 60)  # fmt: skip
    took = time.monotonic() - started
    stderr = outdir / "stderr"
    errors = stderr.read_text(errors="replace").strip() if stderr.exists() else ""
    bad = 0
    for i in range(n):
        out = outdir / f"out-{i}"
        if (out.stat().st_size if out.exists() else 0) != CONCURRENT_FILE_SIZE:
            bad += 1
    shutil.rmtree(outdir)
    return took, bad, errors.splitlines()[0] if errors else ""


def _quiet(lab: netns.Lab, limit: float = 60.0) -> None:
    """Wait until the servers have sent nothing for 2 s (at most ``limit``): a
    transfer a server still retries from the last case must not reach the next
    case's clients, which may get the same UDP port numbers."""

    def sent() -> int:
        rows = [r.split() for r in lab.server.run("cat", "/proc/net/snmp").stdout.splitlines()]
        udp = [r for r in rows if r and r[0] == "Udp:"]
        return int(dict(zip(udp[0][1:], udp[1][1:], strict=True))["OutDatagrams"])

    deadline, last, still = time.monotonic() + limit, sent(), 0
    while still < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = sent()
        still, last = (still + 1 if now == last else 0), now


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            chunk = min(left, 1024 * 1024)
            f.write(os.urandom(chunk))
            left -= chunk
    path.chmod(0o644)


def _start_servers(lab: netns.Lab, root: Path, work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ours = lab.start(
        [sys.executable, "-m", "tftp", "--listen", f"{SERVER}:{PORTS['ours']}",
         "--root", str(root), "--log-level", "WARNING", "--max-blksize", "1468",
         "--max-sessions", str(MAX_SESSIONS)],
        work / "ours.log", env=env,
    )  # fmt: skip
    hpa = lab.start(
        ["/usr/sbin/in.tftpd", "-L", "-s", str(root), "-a", f"{SERVER}:{PORTS['tftpd-hpa']}",
         "-B", "1468"],
        work / "hpa.log",
    )  # fmt: skip
    dnsmasq = lab.start(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
         f"--listen-address={SERVER}", "--bind-interfaces", "--enable-tftp",
         f"--tftp-root={root}", f"--tftp-max={MAX_SESSIONS}", "--quiet-tftp",
         f"--pid-file={work / 'dnsmasq.pid'}", f"--log-facility={work / 'dnsmasq.syslog'}"],
        work / "dnsmasq.log",
    )  # fmt: skip
    lab.wait_udp(PORTS["ours"], proc=ours, log=work / "ours.log")
    lab.wait_udp(PORTS["tftpd-hpa"], proc=hpa, log=work / "hpa.log")
    lab.wait_udp(PORTS["dnsmasq"], proc=dnsmasq, log=work / "dnsmasq.log")


def run(
    size_mb: int, concurrent: list[int], rounds: int, timeout: float, keep: bool = False
) -> list[tuple[str, dict[str, float]]]:
    work = Path(tempfile.mkdtemp(prefix="tftp-bench-"))
    work.chmod(0o755)  # in.tftpd and dnsmasq drop to nobody
    root = work / "root"
    root.mkdir(mode=0o755)
    size = size_mb * 1000 * 1000
    _random_file(root / "big.bin", size)
    _random_file(root / "one.bin", CONCURRENT_FILE_SIZE)
    results: list[tuple[str, dict[str, float]]] = []
    try:
        with netns.lab(work) as lab:
            client = lab.add_client("c0", "192.0.2.2/24")
            _start_servers(lab, root, work)
            singles = ["curl blksize 512", "curl blksize 1468", "atftp blksize 1468 windowsize 16"]
            for case in singles:
                best: dict[str, float] = {}
                for _ in range(rounds):
                    for server, port in PORTS.items():
                        out = work / "out"
                        took = _timed(client, _single(port, "big.bin", out, case), timeout)
                        if out.stat().st_size != size:
                            raise RuntimeError(f"{server}: got {out.stat().st_size} bytes")
                        out.unlink()
                        best[server] = min(best.get(server, took), took)
                results.append((f"{size_mb} MB, {case}", _mibs(size, best)))
                print(_row(*results[-1]), flush=True)
            for n in concurrent:
                best = {}
                failures: dict[str, int] = {}
                for _ in range(rounds):
                    for server, port in PORTS.items():
                        _quiet(lab)
                        took, bad, error = _fan_out(client, n, port, work, timeout)
                        if bad:  # a client that failed is reported, not hidden
                            failures[server] = max(failures.get(server, 0), bad)
                            print(f"  {server}: {bad} of {n} clients failed: {error}", flush=True)
                        best[server] = min(best.get(server, took), took)
                case = f"{n} x curl blksize 1468, 1 MiB each, at once"
                results.append((case, _mibs(n * CONCURRENT_FILE_SIZE, best)))
                print(_row(*results[-1], failures), flush=True)
    finally:
        if keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return results


def _mibs(total: int, seconds: dict[str, float]) -> dict[str, float]:
    return {server: total / took / 1048576 for server, took in seconds.items()}


def _row(case: str, mibs: dict[str, float], failures: dict[str, int] | None = None) -> str:
    def cell(server: str) -> str:
        bad = (failures or {}).get(server)
        return f"{mibs[server]:.1f}" + (f" ({bad} failed)" if bad else "")

    ours = mibs["ours"]
    return (
        f"| {case} | {cell('ours')} | {cell('tftpd-hpa')} | {cell('dnsmasq')} "
        f"| {ours / mibs['tftpd-hpa']:.2f} | {ours / mibs['dnsmasq']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=50, help="the single-transfer file")
    parser.add_argument("--concurrent", type=int, nargs="*", default=[50, 200, 1000])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one client may take")
    parser.add_argument("--keep-work", action="store_true", help="keep logs and files")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    tools = ("ip", "curl", "atftp", "dnsmasq", "/usr/sbin/in.tftpd")
    missing = [c for c in tools if not shutil.which(c)]
    if missing:
        sys.exit(
            f"missing: {' '.join(missing)} "
            "(apt-get install iproute2 curl atftp dnsmasq-base tftpd-hpa)"
        )
    print(f"best of {args.rounds}; MiB/s, aggregate for N clients\n")
    print("| case | ours | tftpd-hpa | dnsmasq | ours/hpa | ours/dnsmasq |")
    print("|---|---:|---:|---:|---:|---:|", flush=True)
    run(args.size_mb, args.concurrent, args.rounds, args.timeout, args.keep_work)


if __name__ == "__main__":
    main()
