"""What the in-process benchmarks (preflight_bench, web_bench) share: their
arguments, the run's metadata, and the stores they fill: SQLite and, unless
``--no-pg``, PostgreSQL (a private cluster, tests/support/pg.py), in a temp
directory removed at the end."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bootcfg_bench import git_state, host, settings_for
from tests.support.pg import start_private_cluster


def arguments(doc: str | None, name: str, rounds: int) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--label", default="latest", help=f"benchmarks/results/{name}-LABEL.json")
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9._-]+", args.label):
        ap.error("--label: letters, digits, . _ - only")
    return args


def run_meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "label": args.label,
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": host(),
        "params": vars(args),
    }


@contextlib.contextmanager
def stores(name: str, no_pg: bool) -> Iterator[dict[str, Any]]:
    """Settings by database kind, each on its own empty data directory and database."""
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{name}-bench-")))
        found = {"sqlite": settings_for(work / "sqlite", None)}
        if not no_pg:
            pg = stack.enter_context(start_private_cluster())
            if pg is None:
                print("PostgreSQL not installed: SQLite only", file=sys.stderr)
            else:
                pg.create_database(f"{name}_bench")
                found["postgresql"] = settings_for(work / "pg", pg.url_for(f"{name}_bench"))
        yield found
