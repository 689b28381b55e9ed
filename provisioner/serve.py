"""``provisioner serve``: the HTTP app on gunicorn (gthread workers).

The werkzeug development server is never used: it is single-purpose, slow
under concurrent downloads and not meant to face a network.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from provisioner.config import Settings
from provisioner.db import open_store
from provisioner.errors import StoreError

log = logging.getLogger("provisioner")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        host, port = self.settings.http_host_port
        options: dict[str, Any] = {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": self.settings.http_workers,
            "worker_class": "gthread",
            "threads": self.settings.http_threads,
            "loglevel": self.settings.log_level.lower(),
            "accesslog": "-",
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 5,
            "proc_name": "provisioner",
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24 writes one to $HOME
            options["control_socket_disable"] = True
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from provisioner.web import create_app

        configure_logging(self.settings)
        return create_app(self.settings, open_store(self.settings, upgrade=False))


def run(settings: Settings) -> None:
    configure_logging(settings)
    # migrate once, in the parent, before any worker opens the database
    store = open_store(settings)
    store.close()
    if not settings.data_dir.is_dir():
        raise StoreError(f"data directory {settings.data_dir} does not exist")
    log.info(
        "data dir %s, database %s, http %s",
        settings.data_dir,
        settings.effective_database_url.split("@")[-1],
        settings.http,
    )
    _Gunicorn(settings).run()
