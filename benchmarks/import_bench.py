"""syslinux.cfg import: parse + plan (``plan_import``) and the whole
``provisioner import-syslinux`` (into a fresh SQLite store), for 10k, 40k and 100k
labels, with the code of this tree and, in the same run, of a baseline commit.

    .venv/bin/python -m benchmarks.import_bench --baseline 27ca7c2
    .venv/bin/python -m benchmarks.import_bench --labels 10000 40000 --no-cli

Each label has its own APPEND (``hostname.`` and ``ip.`` differ), a MENU LABEL, a
KERNEL and an INITRD: what a generated rack file looks like. Every measurement runs
in a fresh Python process (``--baseline REF``: a temporary git worktree of REF, on
this venv's interpreter and packages), one after the other, so the figures compare
like with like; a run over ``--timeout`` seconds is reported as such and stopped
(the baseline is quadratic: 100k labels take minutes). The temp worktree and
directories are removed at the end. Prints a Markdown table and writes the raw figures
to ``benchmarks/results/import-LABEL.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: run first in every measured process: this venv installs the project in editable
#: mode, and that finder would win over PYTHONPATH (the baseline would run our code)
PRELUDE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in f.__module__]
"""
PLAN = (
    PRELUDE
    + """
import time
from provisioner.importer import plan_import
text = open(sys.argv[1], encoding="utf-8").read()
t0 = time.perf_counter()
plan = plan_import(text)
took = time.perf_counter() - t0
assert not plan.problems, plan.problems[:3]
print(took, len(plan.profiles))
"""
)


def syslinux_cfg(labels: int) -> str:
    lines = ["DEFAULT l0", "PROMPT 0", "TIMEOUT 50", ""]
    for i in range(labels):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        lines += [
            f"LABEL l{i}",
            f"  MENU LABEL rack box {i}",
            "  KERNEL vmlinuz",
            "  INITRD initrd.img",
            f"  APPEND console=ttyS0 hostname.box{i} ip.{ip} lang.de auto",
            "",
        ]
    return "\n".join(lines)


def _run(
    cmd: list[str], env: dict[str, str], timeout: float, cwd: Path
) -> tuple[float | None, str]:
    """Wall seconds of ``cmd`` (None: over ``timeout``), and its stdout. ``cwd`` is
    not a source tree: ``python -c``/``-m`` put it first on ``sys.path``."""
    t0 = time.perf_counter()
    try:
        out = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=True
        )
    except subprocess.TimeoutExpired:
        return None, ""
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{cmd[:3]} failed:\n{exc.stdout}\n{exc.stderr}") from None
    return time.perf_counter() - t0, out.stdout


def measure(tree: Path, cfg: Path, work: Path, timeout: float, cli: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")}
    env["PYTHONPATH"] = str(tree)
    where = "import provisioner; print(provisioner.__file__)"
    _, out = _run([sys.executable, "-c", where], env, 60, work)
    assert out.startswith(str(tree)), (out, tree)  # the code of the tree asked for
    wall, out = _run([sys.executable, "-c", PLAN, str(cfg)], env, timeout, work)
    plan = float(out.split()[0]) if wall is not None else None
    result: dict[str, object] = {"plan_s": plan}
    if cli:
        data = work / "data"
        shutil.rmtree(data, ignore_errors=True)
        env["PROVISIONER_DATA_DIR"] = str(data)
        cmd = [sys.executable, "-m", "provisioner", "import-syslinux", str(cfg)]
        result["cli_s"], _ = _run(cmd, env, timeout, work)
    return result


def _fmt(value: object) -> str:
    return "timeout" if value is None else f"{value:.2f} s" if isinstance(value, float) else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=int, nargs="+", default=[10_000, 40_000, 100_000])
    ap.add_argument("--baseline", help="a commit to measure in the same run (git worktree)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per measurement")
    ap.add_argument("--no-cli", action="store_true", help="parse + plan only")
    ap.add_argument("--label", default="after")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="import-bench-"))
    trees = {"this tree": ROOT}
    try:
        if args.baseline:
            base = tmp / "baseline"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            trees = {f"baseline {args.baseline}": base, **trees}
        rows = []
        for n in args.labels:
            cfg = tmp / f"labels-{n}.cfg"
            cfg.write_text(syslinux_cfg(n))
            for name, tree in trees.items():
                r = measure(tree, cfg, tmp, args.timeout, not args.no_cli)
                rows.append({"labels": n, "bytes": cfg.stat().st_size, "code": name, **r})
                print(f"{n:>7} labels  {name:<22} plan {_fmt(r['plan_s']):>9}"
                      f"  import-syslinux {_fmt(r.get('cli_s')):>9}", flush=True)  # fmt: skip
    finally:
        if args.baseline:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "baseline")],
                check=False, capture_output=True, timeout=120,
            )  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n| labels | file | code | parse + plan | whole `import-syslinux` (SQLite) |")
    print("|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['labels']:,} | {int(str(r['bytes'])) / 1e6:.1f} MB | {r['code']} "
              f"| {_fmt(r['plan_s'])} | {_fmt(r.get('cli_s'))} |")  # fmt: skip
    out = ROOT / "benchmarks" / "results" / f"import-{args.label}.json"
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "timeout": args.timeout}
    out.write_text(json.dumps({**meta, "rows": rows}, indent=2))
    print(f"\nraw figures: {out}")


if __name__ == "__main__":
    main()
