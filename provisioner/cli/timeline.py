"""``provisioner node events MAC [--follow]``: a node's timeline, newest last.

The events come from this machine's store, or with ``--server URL --token T`` from
``GET /api/v1/nodes/<mac>/events``. ``--follow`` polls for what came since
(``after=<id>``) and prints it as it happens, until Ctrl-C, ``--until-done`` (the
install window closed) or ``--timeout``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from provisioner.cli.objects import node
from provisioner.cli.root import Invocation, _errors, pass_inv, service
from provisioner.domain import normalize_mac
from provisioner.views import event_view, node_view

#: event ids are handed out at insert but PostgreSQL commits in any order: each poll
#: reads this many ids back and skips those already printed, so a late commit is not lost
OVERLAP = 50
#: exit status of ``--until-done`` when ``--timeout`` ran out first (as timeout(1))
TIMED_OUT = 124


@dataclass
class Timeline:
    """One node's events and install window, from the store or over HTTP."""

    #: ``after`` -> event views, newest first (the API's order); None: the newest page
    events: Callable[[int | None, int], list[dict[str, Any]]]
    #: the node's API view (state, install_window_expires, ...)
    node: Callable[[], dict[str, Any]]


@contextmanager
def _timeline(inv: Invocation, mac: str, remote: dict[str, Any]) -> Iterator[Timeline]:
    if remote["server"]:
        from media.client import UploadClient
        from provisioner.cli.media import _token

        client = UploadClient(remote["server"], _token(remote["token"], remote["token_file"]))
        path = f"/api/v1/nodes/{normalize_mac(mac)}"

        def remote_events(after: int | None, limit: int) -> list[dict[str, Any]]:
            query = f"?limit={limit}" + (f"&after={after}" if after is not None else "")
            return list(client.get(f"{path}/events{query}"))

        yield Timeline(remote_events, lambda: dict(client.get(path)))
        return
    with service(inv) as svc:
        found = svc.get_node(mac)

        def local_events(after: int | None, limit: int) -> list[dict[str, Any]]:
            return [event_view(e) for e in svc.store.list_events(found.mac, limit, None, after)]

        yield Timeline(local_events, lambda: node_view(svc.get_node(found.mac), None))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def window_open(view: dict[str, Any]) -> bool:
    """The install window of a node's API view is open now."""
    expires = view.get("install_window_expires")
    return isinstance(expires, str) and _time(expires) > datetime.now(UTC)


def event_line(view: dict[str, Any]) -> str:
    """``2026-12-02 10:57:21.3  agent.image     writing slot A``: time (UTC), kind, what."""
    at = _time(view["time"])
    status = view["data"].get("status") if isinstance(view.get("data"), dict) else None
    failed = " [failed]" if status == "failed" else ""
    return f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 100000}  {view['kind']:<15} " + (
        f"{view['message']}{failed}"
    )


@node.command("events")
@click.argument("mac")
@click.option("--limit", default=50, show_default=True, help="How many past events to show.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they come.")
@click.option(
    "--until-done",
    is_flag=True,
    help="With --follow: stop when the node's install window closes (its final report, "
    "or none open); exit 1 if the node then is failed.",
)
@click.option(
    "--timeout",
    type=float,
    metavar="SECONDS",
    help=f"With --follow: stop after this long (exit {TIMED_OUT} with --until-done).",
)
@click.option(
    "--interval", default=1.0, show_default=True, metavar="SECONDS", help="Poll interval."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (the API's).")
@click.option("--server", metavar="URL", help="Read from this server over HTTP.")
@click.option("--token", help="API token for --server.")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the API token for --server.",
)
@pass_inv
@_errors
def node_events(
    inv: Invocation,
    /,
    *,
    mac: str,
    limit: int,
    follow: bool,
    until_done: bool,
    timeout: float | None,
    interval: float,
    as_json: bool,
    **remote: Any,
) -> None:
    """A node's timeline, newest last: changes, DHCP/TFTP/HTTP boot steps, the
    agent's reports. --follow streams new events while the box installs (Ctrl-C
    ends it)."""
    if not 1 <= limit <= 1000:
        raise click.BadParameter("must be 1 to 1000", param_hint="--limit")
    if interval <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--interval")

    def show(view: dict[str, Any]) -> None:
        click.echo(json.dumps(view) if as_json else event_line(view))

    with _timeline(inv, mac, remote) as tl:
        printed: set[int] = set()
        cursor = 0
        for view in reversed(tl.events(None, limit)):
            show(view)
            printed.add(view["id"])
            cursor = max(cursor, view["id"])
        if not follow:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                # the window first: a final report and its event share a transaction
                closed = until_done and not window_open(tl.node())
                for view in reversed(tl.events(max(cursor - OVERLAP, 0), 1000)):
                    if view["id"] not in printed:
                        show(view)
                        printed.add(view["id"])
                        cursor = max(cursor, view["id"])
                printed = {i for i in printed if i > cursor - OVERLAP}
                if closed:
                    sys.exit(1 if tl.node().get("state") == "failed" else 0)
                if deadline is not None and time.monotonic() >= deadline:
                    if until_done:
                        click.echo(f"node {mac}: still installing after {timeout}s", err=True)
                        sys.exit(TIMED_OUT)
                    return
                time.sleep(interval)
        except KeyboardInterrupt:
            return
