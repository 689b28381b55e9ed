"""Previews of what a box is served: ``node show --boot`` and the media URLs of
``node manifest`` and ``image list|show``.

The bytes come from the functions the boot endpoints call
(:meth:`~provisioner.service.Service.pxelinux_file`, ``ipxe_file``), with the
server's URL as :func:`provisioner.serverstate.preview_url` finds it; only when
nothing names the server do they show ``SERVER``, and a note on stderr says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from media.layout import media_base_url
from provisioner.bootnames import config_name, config_path
from provisioner.cli.root import note
from provisioner.serverstate import PLACEHOLDER_HOST, placeholder_note, preview_url
from provisioner.service import Service

F = TypeVar("F", bound=Callable[..., Any])


def server_option(fn: F) -> F:
    """``--server URL``: the server's base URL as booting boxes reach it."""
    return click.option(
        "--server",
        "server",
        metavar="URL",
        help="This server's base URL as boxes reach it, e.g. http://192.0.2.1:8080 "
        "(default: the running server's, else server_ip).",
    )(fn)


def media_base(svc: Service, server: str | None = None) -> str:
    """Base of the media URLs (``.../media/``): the ``media_url`` setting, else the
    server's base URL (:func:`provisioner.serverstate.preview_url`)."""
    s = svc.settings
    if s.media_url:
        return media_base_url(s.media_url, "", 0, "")
    return media_base_url("", "", 0, preview_url(s, server)[0])


def note_placeholder(svc: Service, shown: str) -> None:
    """Say on stderr what ``SERVER`` means, when ``shown`` (the output) has it."""
    if f"//{PLACEHOLDER_HOST}:" in shown:
        note(placeholder_note(svc.settings))


def boot_files(svc: Service, mac: str, server: str | None) -> str:
    """The pxelinux file and the iPXE script of ``mac``, exactly as served, each
    under a ``#`` line naming the URL it is served at."""
    url = preview_url(svc.settings, server)[0]
    name = config_name(mac)
    pxelinux = svc.pxelinux_file(name, url) or ""
    ipxe = svc.ipxe_file(mac, f"{url}/boot/files/", url) or ""
    return (
        f"\n# {config_path(mac)}: as served at {url}/boot/pxelinux.cfg/{name}\n"
        f"{pxelinux}"
        f"\n# iPXE script: as served at {url}/boot/ipxe?mac={mac}\n"
        f"{ipxe}"
    )
