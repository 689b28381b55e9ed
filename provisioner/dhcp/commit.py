"""Group commit: an ACK leaves only after its lease is in the store.

The daemon applies every lease change to the in-memory :class:`~.leases.LeaseTable`
at once (so the next packet already sees the address as taken) and hands an ACK
that grants a lease to :meth:`GroupCommit.after_commit` instead of sending it. One
task gathers what arrives within ``window`` seconds (and whatever arrives while a
transaction is running) into a single transaction: the table's pending changes,
written by the backend in a worker thread. When that transaction has committed, the
replies waiting for it are sent; when it fails, they are dropped (the client hears
nothing and asks again) and the changes stay queued for the next attempt, which
comes after ``retry`` seconds. So a client is never told of a lease the store does
not hold, and a kill -9 at any moment loses no lease that was ACKed.

Only one transaction runs at a time, in the order the changes were made: a reply
is sent only after the transaction that took its change (the table is touched from
the event loop only; :meth:`LeaseTable.take_changes` hands over a batch)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address

from provisioner import netio
from provisioner.dhcp.leases import LeaseTable
from provisioner.dhcp.policy import Reply
from provisioner.domain import Lease

log = logging.getLogger("provisioner.dhcp")

#: ``save(leases, forget)``: one transaction; raises when it did not commit
Save = Callable[[Sequence[Lease], Sequence[IPv4Address]], None]


class GroupCommit:
    """See the module docstring. ``send(reply)`` puts a reply on the wire."""

    def __init__(
        self,
        table: LeaseTable,
        save: Save,
        send: Callable[[Reply], None],
        *,
        window: float = 0.005,
        retry: float = 0.5,
    ) -> None:
        self.table = table
        self.save = save
        self.send = send
        self.window = window
        self.retry = retry
        self._waiting: list[Reply] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: transactions committed and replies sent after them (for the tests and the log)
        self.commits = 0
        self.failures = 0

    def after_commit(self, reply: Reply) -> None:
        """Send ``reply`` once the table's changes made so far are committed."""
        self._waiting.append(reply)
        self._wake.set()

    def changed(self) -> None:
        """The table has changes to write (a release, a decline): no reply waits."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dhcp-commit")

    async def stop(self) -> None:
        """Stop the task and commit what is left (replies included)."""
        await netio.cancel(self._task)
        self._task = None
        await self.commit()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self.window > 0:
                await asyncio.sleep(self.window)  # let the next few ACKs join
            self._wake.clear()
            if not await self.commit():
                await asyncio.sleep(self.retry)
                self._wake.set()

    async def commit(self) -> bool:
        """One transaction with every pending change; the replies that waited for
        them are sent if it committed, dropped if not. False: it failed."""
        replies, self._waiting = self._waiting, []
        saved, gone = self.table.take_changes()
        if saved or gone:
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, self.save, saved, gone)
            except asyncio.CancelledError:  # stopping: stop() writes them again
                self.table.requeue(saved, gone)
                self._waiting[:0] = replies  # ... and then sends these
                raise
            except Exception as exc:
                self.table.requeue(saved, gone)
                self.failures += 1
                log.error(
                    "DHCP: leases not committed (%s); %d ACKs withheld, retrying in %g s",
                    exc,
                    len(replies),
                    self.retry,
                )
                return False
            self.commits += 1
        for reply in replies:
            self.send(reply)
        return True
