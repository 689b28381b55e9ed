"""The server side of the installer agent: its manifest and its reports.

The agent authenticates with its node's build token (see
:mod:`provisioner.lifecycle`), never with an API token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from media.layout import media_base_url
from provisioner.domain import Event, Node, parse_count, utcnow
from provisioner.errors import NotFound, OutOfOrder, Unauthorized, ValidationError
from provisioner.lifecycle import apply_report, check_order, parse_report
from provisioner.manifest import Download, build_manifest
from provisioner.service import Service

#: What a manifest value may contain (it is parsed by a shell script).
_SAFE = re.compile(r"[A-Za-z0-9._:/?=&%+-]*\Z")


@dataclass(frozen=True, slots=True)
class FileRef:
    name: str
    url: str
    size: int
    sha256: str

    @classmethod
    def of(cls, download: Download) -> FileRef:
        return cls(download.filename, download.url, download.size, download.sha256)


@dataclass(frozen=True, slots=True)
class AgentManifest:
    """What one box must fetch and do; rendered as ``KEY=value`` lines."""

    mac: str
    action: str
    release: str | None
    image: FileRef | None
    files: tuple[FileRef, ...]
    slot_mib: int
    disk: str | None

    def env(self) -> str:
        lines = {"MAC": self.mac, "ACTION": self.action, "SLOT_MIB": str(self.slot_mib)}
        if self.disk:
            lines["DISK"] = self.disk
        if self.release and self.image:
            lines.update(
                RELEASE=self.release,
                IMAGE_URL=self.image.url,
                IMAGE_SIZE=str(self.image.size),
                IMAGE_SHA256=self.image.sha256,
            )
        lines["FILES"] = str(len(self.files))
        for i, f in enumerate(self.files, start=1):
            lines.update(
                {
                    f"FILE{i}_NAME": f.name,
                    f"FILE{i}_URL": f.url,
                    f"FILE{i}_SIZE": str(f.size),
                    f"FILE{i}_SHA256": f.sha256,
                }
            )
        for key, value in lines.items():
            if not _SAFE.match(value):
                raise ValidationError(key, f"{value!r} cannot be handed to the agent safely")
        return "".join(f"{k}={v}\n" for k, v in lines.items())


def slot_mib(node_options_value: str | None, default: int) -> int:
    if node_options_value is None:
        return default
    try:
        return parse_count("options.slotsize", node_options_value, 16, 16 * 1024 * 1024)
    except ValidationError:
        raise ValidationError(
            "options.slotsize", "must be a whole number of MiB (16 or more)"
        ) from None


class Installer:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.store = service.store

    def node_for_token(self, token: str) -> Node:
        node = self.store.find_node_by_token(token) if token else None
        if node is None or not node.window_open(utcnow()):
            raise Unauthorized("no open install window for this build token")
        return node

    def manifest(self, node: Node, host_url: str) -> AgentManifest:
        """The node's manifest (provisioner.manifest, the installer's single source of
        truth) in the form the agent reads."""
        settings = self.service.settings
        base = media_base_url(
            settings.media_url, settings.server_ip, settings.http_host_port[1], host_url
        )
        found = self.service.view.snapshot().effective(node)
        m = build_manifest(node, found.profile, found.release, found.bundle, base)
        return AgentManifest(
            mac=m.mac,
            action=m.action.value,
            release=m.release.release.ref if m.release else None,
            image=FileRef.of(m.release.download) if m.release else None,
            files=tuple(FileRef.of(f.download) for f in m.bundle.files) if m.bundle else (),
            slot_mib=slot_mib(m.cmdline.get("slotsize"), settings.slot_size_mib),
            disk=m.cmdline.get("disk"),
        )

    def report(self, token: str, form: Mapping[str, str]) -> Node:
        """Apply one agent report atomically; the event joins the node's timeline."""
        node = self.node_for_token(token)
        rep = parse_report(form)
        data: dict[str, Any] = {"status": rep.status, **rep.fields}
        event = Event(
            kind=f"agent.{rep.step}", message=rep.message or rep.status, mac=node.mac, data=data
        )
        window = [
            e
            for e in self.store.list_events(node.mac, limit=1000)
            if node.window_opened is None or e.time >= node.window_opened
        ]

        def change(current: Node | None) -> Node:
            if current is None:
                raise NotFound("node", node.mac)
            if current.build_token != token:
                raise Unauthorized("the install window closed")
            check_order(current, rep, window)
            return apply_report(current, rep, utcnow(), [*window, event])

        try:
            updated, _ = self.store.change_node(node.mac, change, events=[event])
        except OutOfOrder as exc:  # the node is as it was; the timeline says why
            self.store.add_event(
                Event(
                    kind="agent.refused",
                    message=exc.message,
                    mac=node.mac,
                    data={"step": rep.step, "reported": rep.status},
                )
            )
            raise
        return updated
