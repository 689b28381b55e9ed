"""``provisioner serve``: HTTP on gunicorn (the front's worker,
:mod:`provisioner.front`: gthread with request heads read on its event loop),
and the network-boot daemons (DHCP, TFTP, DNS) in a process of their own.

The werkzeug development server is never used: it is single-purpose, slow
under concurrent downloads and not meant to face a network. DHCP runs only
when a mode AND an interface are named (:func:`provisioner.netboot.check`).
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import threading
from typing import Any

from gunicorn.app.base import BaseApplication

from provisioner import daemons, netboot, serverstate
from provisioner.bootnames import BOOTENV_KERNEL
from provisioner.config import Settings
from provisioner.db import open_store
from provisioner.errors import StoreError
from provisioner.front import FrontWorker
from provisioner.store import Store

log = logging.getLogger("provisioner")

#: the gunicorn request a worker thread is answering (set by its pre_request hook)
_current = threading.local()


def _remember_request(worker: Any, req: Any) -> None:
    _current.req = req


def honour_connection_close(app: Any) -> Any:
    """gunicorn drops an application's ``Connection`` header and decides keep-alive
    itself, so after an early refusal (web/body.py) it would answer ``keep-alive``,
    drain 64 KiB of the unread body, then close the socket under the client's next
    request. When the app says ``Connection: close``, tell gunicorn to close."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
                req = getattr(_current, "req", None)
                if req is not None:
                    req.must_close = True
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, child: netboot.NetbootProcess | None) -> None:
        self.settings = settings
        self.child = child
        super().__init__()

    def load_config(self) -> None:
        host, port = self.settings.http_host_port
        options: dict[str, Any] = {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": self.settings.http_workers,
            "worker_class": FrontWorker,
            "threads": self.settings.http_threads,
            "worker_connections": self.settings.http_max_connections,
            "loglevel": self.settings.log_level.lower(),
            "accesslog": "-",
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 5,
            "proc_name": "provisioner",
            "when_ready": self._when_ready,
            "pre_request": _remember_request,
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24 writes one to $HOME
            options["control_socket_disable"] = True
        for key, value in options.items():
            self.cfg.set(key, value)

    def _when_ready(self, arbiter: Any) -> None:
        """If the network-boot process dies, HTTP alone is no server: stop."""
        child = self.child
        if child is None:
            return

        def watch() -> None:
            child.wait_exit()
            if not child.stopping:
                log.error("the network-boot process exited; stopping")
                os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="netboot-watch", daemon=True).start()

    def load(self) -> Any:
        from provisioner.web import create_app

        daemons.configure_logging(self.settings)
        return honour_connection_close(
            create_app(self.settings, open_store(self.settings, upgrade=False))
        )


def _created(notice: str) -> None:
    for line in notice.splitlines():
        log.warning("%s", line)


def _check_media(store: Store, settings: Settings) -> None:
    """The catalogue against the files on disk, repaired where they disagree, and
    the media GC, before any worker serves a file (docs/media.md)."""
    from provisioner.media_audit import audit_at_start
    from provisioner.media_library import MediaLibrary

    problems, notes = audit_at_start(MediaLibrary(store, settings), settings.media_gc_grace_hours)
    for line in problems:
        log.warning("media check: %s", line)
    for line in notes:
        log.info("media check: %s", line)


def raise_open_files(settings: Settings) -> None:
    """Slow clients are cheap for the front but each holds a descriptor: take the
    hard limit, and say so when even that is short of ``http_max_connections``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    want = settings.http_max_connections + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        log.warning(
            "open files limited to %d: fewer than http_max_connections (%d) + 256; "
            "raise the hard limit (LimitNOFILE=, ulimit -Hn)",
            hard, settings.http_max_connections,
        )  # fmt: skip


def run(settings: Settings) -> None:
    daemons.configure_logging(settings)
    raise_open_files(settings)
    settings = netboot.check(settings)
    # migrate once, in the parent, before any worker or daemon opens the database
    store = open_store(settings, created=_created)
    try:
        if not settings.data_dir.is_dir():
            raise StoreError(f"data directory {settings.data_dir} does not exist")
        _check_media(store, settings)
    finally:
        store.close()
    log.info(
        "data dir %s, database %s, http %s, tftp %s, dns %s, dhcp %s%s, server ip %s",
        settings.data_dir, settings.effective_database_url.split("@")[-1], settings.http,
        settings.tftp or "off", settings.dns or "off", settings.dhcp,
        f" on {settings.interface}" if settings.interface else "", settings.server_ip or "-",
    )  # fmt: skip
    if netboot.enabled(settings) and not (settings.data_dir / "boot" / BOOTENV_KERNEL).exists():
        log.warning(
            "no boot environment in %s/boot: installs fail until "
            "'provisioner media build-initrd' succeeds",
            settings.data_dir,
        )
    child = netboot.start(settings, daemons.network_daemons) if netboot.enabled(settings) else None
    serverstate.write(settings)  # previews (node show --boot) name this server's URL
    try:
        _Gunicorn(settings, child).run()
    finally:
        serverstate.remove(settings)
        if child is not None:
            child.stop()
