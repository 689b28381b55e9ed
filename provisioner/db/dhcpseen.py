"""The SQL store's record of other DHCP servers heard on the segment (a part of
:class:`provisioner.db.sqlstore.SqlStore`, kept apart to keep that module short)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from provisioner.db.models import DhcpServerRow
from provisioner.domain import DhcpServerSeen, SeenClient
from provisioner.store import Change

T = TypeVar("T")


def _client(raw: dict[str, Any]) -> SeenClient:
    at = datetime.fromisoformat(raw["at"])
    return SeenClient(raw["mac"], raw["message"], raw["address"], bool(raw["pxe"]), at)


def _seen(row: DhcpServerRow) -> DhcpServerSeen:
    offer = row.offer
    return DhcpServerSeen(
        server_id=row.server_id,
        source=row.source,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        replies=row.replies,
        options=dict(offer.get("options", {})),
        boot_file=offer.get("boot_file", ""),
        next_server=offer.get("next_server", ""),
        answers_pxe=row.answers_pxe,
        offers_boot=row.offers_boot,
        clients=tuple(_client(c) for c in row.clients.get("clients", [])),
    )


def _columns(seen: DhcpServerSeen) -> dict[str, Any]:
    clients = [
        {"mac": c.mac, "message": c.message, "address": c.address, "pxe": c.pxe}
        | {"at": c.at.isoformat()}
        for c in seen.clients
    ]
    offer = {"options": seen.options, "boot_file": seen.boot_file}
    return {
        "source": seen.source,
        "first_seen": seen.first_seen,
        "last_seen": seen.last_seen,
        "replies": seen.replies,
        "answers_pxe": seen.answers_pxe,
        "offers_boot": seen.offers_boot,
        "offer": offer | {"next_server": seen.next_server},
        "clients": {"clients": clients},
    }


class DhcpServersSql:
    """Mixed into SqlStore."""

    if TYPE_CHECKING:  # provided by SqlStore

        def _session(self, write: bool) -> AbstractContextManager[Session]: ...

        def _rmw(self, fn: Callable[[Session], T], what: str) -> T: ...

        def _locked(self, stmt: Any) -> Any: ...

    def list_dhcp_servers(self) -> list[DhcpServerSeen]:
        with self._session(write=False) as s:
            rows = s.scalars(select(DhcpServerRow).order_by(DhcpServerRow.server_id))
            return [_seen(r) for r in rows]

    def change_dhcp_server(self, server_id: str, change: Change[DhcpServerSeen]) -> DhcpServerSeen:
        def run(s: Session) -> DhcpServerSeen:
            stmt = select(DhcpServerRow).where(DhcpServerRow.server_id == server_id)
            row = s.scalar(self._locked(stmt))
            new = change(None if row is None else _seen(row))
            if row is None:
                s.add(DhcpServerRow(server_id=server_id, **_columns(new)))
            else:
                for name, value in _columns(new).items():
                    setattr(row, name, value)
            return new

        return self._rmw(run, f"DHCP server {server_id}")
