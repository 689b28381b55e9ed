"""The console's pages: each module adds its views to the ``console`` blueprint
when imported. A new page is one more module and one more name in :data:`PAGES`."""

from __future__ import annotations

import importlib

PAGES = (
    "login",
    "rack",
    "node",
    "node_form",
    "rack_import",
    "profiles",
    "releases",
    "bundles",
    "dhcp",
    "tokens",
    "users",
)


def load() -> None:
    for name in PAGES:
        importlib.import_module(f"{__name__}.{name}")
