"""Domain values -> JSON-ready dicts (API responses and ``--json`` CLI output)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from media.layout import bundle_file_relpath, media_url
from provisioner.bootnames import join_initrd
from provisioner.bootspec import BootSpec
from provisioner.dhcp.observe import conflicts, warning
from provisioner.domain import (
    BUNDLE_KINDS,
    Bundle,
    BundleFile,
    DhcpServerSeen,
    Event,
    Node,
    Profile,
    Release,
    Token,
    utcnow,
)
from provisioner.errors import ValidationError
from provisioner.preflight import Problem


def _time(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def node_view(
    node: Node,
    spec: BootSpec | None,
    boot_error: ValidationError | None = None,
    problems: Sequence[Problem] | None = None,
    confirm_seconds: float = 0.0,
) -> dict[str, Any]:
    """``problems``: what :mod:`provisioner.preflight` found (left out when None);
    ``confirm_seconds``: the ``confirm_minutes`` setting, for ``unconfirmed``."""
    view: dict[str, Any] = {
        "mac": node.mac,
        "hostname": node.hostname,
        "profile": node.profile,
        "options": node.options.render(),
        "options_object": node.options.to_mapping(),
        "release": node.release,
        "bundle": node.bundle,
        "action": node.action.value,
        "state": node.shown_state(utcnow(), confirm_seconds).value,
        "cmdline": spec.cmdline.render() if spec else None,
        "warnings": spec.cmdline.warnings() if spec else [],
        "created_at": _time(node.created_at),
        "updated_at": _time(node.updated_at),
        "slot_a": node.slot_a,
        "slot_b": node.slot_b,
        "active_slot": node.active_slot,
        "installed_at": _time(node.installed_at) if node.installed_at else None,
        "install_seconds": node.install_seconds,
        "phases": node.phases,
        "install_window_expires": _time(node.window_expires) if node.window_expires else None,
        "running": dict(node.running) or None,
        "credential": node.credential_hash is not None,
    }
    if boot_error is not None:
        view["boot_error"] = boot_error.message
    if problems is not None:
        view["problems"] = [p.to_dict() for p in problems]
    return view


def profile_view(p: Profile, problems: Sequence[Problem] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": p.name,
        "kernel": p.kernel,
        "initrd": join_initrd(p.initrd),
        "options": p.options.render(),
        "options_object": p.options.to_mapping(),
        "ipappend": p.ipappend,
        "release": p.release,
        "bundle": p.bundle,
        "description": p.description,
        "warnings": p.options.warnings(),
        "created_at": _time(p.created_at),
        "updated_at": _time(p.updated_at),
    }
    if problems is not None:
        view["problems"] = [x.to_dict() for x in problems]
    return view


def bundle_view(b: Bundle, media_base: str | None = None) -> dict[str, Any]:
    """``files``: for each file the bundle names, its upload (or null while
    none); ``url`` needs ``media_base`` (see media.layout.media_base_url)."""
    opts = b.options()
    files: dict[str, Any] = {}
    for kind in BUNDLE_KINDS:
        name = getattr(b, kind)
        f = b.file(kind)
        if name:
            files[kind] = None if f is None else bundle_file_view(b.name, f, media_base)
    return {
        "name": b.name,
        "iso": b.iso,
        "definition": b.definition,
        "image": b.image,
        "options": opts.render(),
        "warnings": opts.warnings(),
        "files": files,
        "created_at": _time(b.created_at),
    }


def bundle_upload_view(
    b: Bundle, replaced: BundleFile | None, media_base: str | None
) -> dict[str, Any]:
    """A bundle after a file upload, and ``replaced``: the different file of that
    kind the upload replaced (its bytes are gone: no URL), or null."""
    gone = None if replaced is None else bundle_file_view(b.name, replaced, None)
    return {**bundle_view(b, media_base), "replaced": gone}


def bundle_file_view(bundle: str, f: BundleFile, media_base: str | None) -> dict[str, Any]:
    return {
        "filename": f.filename,
        "size": f.size,
        "sha256": f.sha256,
        "format": f.format,
        "url": media_url(media_base, bundle_file_relpath(bundle, f)) if media_base else None,
        "created_at": _time(f.created_at),
    }


def release_view(r: Release, url: str | None = None) -> dict[str, Any]:
    return {
        "name": r.name,
        "version": r.version,
        "ref": r.ref,
        "filename": r.filename,
        "size": r.size,
        "sha256": r.sha256,
        "url": url,
        "created_at": _time(r.created_at),
    }


def event_view(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "time": _time(e.time),
        "mac": e.mac,
        "kind": e.kind,
        "message": e.message,
        "data": e.data,
        "actor": e.actor,
    }


def token_view(t: Token) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "role": t.role.value, "created_at": _time(t.created_at)}


def dhcp_servers_view(mode: str, servers: Sequence[DhcpServerSeen]) -> dict[str, Any]:
    """The other DHCP servers heard, and a warning for each that competes with
    this server's DHCP ``mode`` (:func:`provisioner.dhcp.observe.conflicts`)."""
    return {
        "mode": mode,
        "warnings": [warning(s) for s in servers if conflicts(s, mode)],
        "servers": [
            {
                "server_id": s.server_id,
                "source": s.source,
                "first_seen": _time(s.first_seen),
                "last_seen": _time(s.last_seen),
                "replies": s.replies,
                "answers_pxe": s.answers_pxe,
                "offers_boot": s.offers_boot,
                "competes": conflicts(s, mode),
                "offer": {
                    "boot_file": s.boot_file,
                    "next_server": s.next_server,
                    "options": s.options,
                },
                "clients": [
                    {
                        "mac": c.mac,
                        "message": c.message,
                        "address": c.address,
                        "pxe": c.pxe,
                        "at": _time(c.at),
                    }
                    for c in s.clients
                ],
            }
            for s in servers
        ],
    }
