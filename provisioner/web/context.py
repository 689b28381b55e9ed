"""The per-app context every blueprint reads: settings, store, service. Its own
module so that the blueprints never import the package that imports them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from provisioner.accounts import Accounts
from provisioner.config import Settings
from provisioner.service import Service
from provisioner.store import Store

EXTENSION = "provisioner"


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    store: Store
    service: Service
    accounts: Accounts  # the web console's users and sessions


def ctx() -> AppContext:
    value: AppContext = current_app.extensions[EXTENSION]
    return value
