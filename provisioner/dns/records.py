"""Where the DNS records come from: one small interface, ``() -> [(host name, IPv4)]``.

``provisioner serve`` gives the nodes of the store (host name and the effective
``ip.`` dot-option, or the address the full-mode DHCP server leased):
:func:`provisioner.daemons.node_records`. The standalone daemon can also serve
fixed ``NAME=IP`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

RecordSource = Callable[[], Iterable[tuple[str, str]]]


def static_records(pairs: Iterable[str]) -> RecordSource:
    """``NAME=IP`` strings (the standalone daemon's ``--record``) as a source."""
    records = [tuple(p.split("=", 1)) for p in pairs if "=" in p]
    return lambda: [(name, ip) for name, ip in records]
