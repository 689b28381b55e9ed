"""The server side of the installer agent: its manifest and its reports.

The agent authenticates with its node's build token (see
:mod:`provisioner.lifecycle`), never with an API token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from media.grubcfg import slot_boot_cfg
from media.layout import media_base_url, media_url
from media.loader import LOADER_DIR, LoaderRecord, read_loader
from provisioner.domain import Event, Node, Release, parse_count, utcnow
from provisioner.errors import Contradiction, NotFound, OutOfOrder, Unauthorized, ValidationError
from provisioner.firstboot import (
    BootReport,
    Outcome,
    apply_boot_report,
    credential_ok,
    parse_boot_report,
)
from provisioner.hostsettings import host_settings, settings_files, settings_tar
from provisioner.lifecycle import apply_report, check_order, parse_report
from provisioner.manifest import Download, build_manifest
from provisioner.media_library import release_boot_files, release_facts
from provisioner.service import Service

#: how stale an installed system's last recorded report may get before a heartbeat
#: that changes nothing else is written anyway ("last seen")
REFRESH = timedelta(minutes=10)
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
    #: the disk's boot loader and the release's boot files (LOADER_*, BOOT_*, TRIES)
    boot: Mapping[str, str] = field(default_factory=dict)

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
        lines.update(self.boot)
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


#: kernel words for the installer's boot only, never for the installed system's
INSTALLER_ONLY = frozenset({"initrd", "BOOTIF", "root", "rootfstype", "init", "rdinit"})


def _file_lines(prefix: str, url: str, size: int, sha256: str) -> dict[str, str]:
    return {f"{prefix}_URL": url, f"{prefix}_SIZE": str(size), f"{prefix}_SHA256": sha256}


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
            boot=self._boot_lines(m.release.release if m.release else None, host_url, base),
        )

    def _loader(self) -> LoaderRecord | None:
        return read_loader(self.service.settings.data_dir / "boot" / LOADER_DIR)

    def _boot_lines(self, release: Release | None, host_url: str, base: str) -> dict[str, str]:
        """LOADER_* (the disk's boot loader, when built), BOOT_* (the release's
        kernel and initramfs, when its boot files exist; ``base``: the media URL
        base) and TRIES."""
        settings = self.service.settings
        lines = {"TRIES": str(settings.boot_tries)}
        server = self.service.server_url_for(host_url=host_url) or ""
        loader = self._loader()
        if loader is not None:
            lines["LOADER_ENV_OFFSET"] = str(loader.env_offset)
            for key, art in loader.artefacts.items():
                url = f"{server}/boot/files/{LOADER_DIR}/{art.name}"
                lines.update(_file_lines(f"LOADER_{key}", url, art.size, art.sha256))
        boot = release_boot_files(settings, release) if release else {}
        for key, (relpath, size, sha) in boot.items():
            lines.update(_file_lines(f"BOOT_{key}", media_url(base, relpath), size, sha))
        return lines

    def slot_boot_cfg(self, node: Node, slot: str) -> str:
        """The GRUB fragment that boots ``slot`` with the node's kernel words
        (media.loader.slot_boot_cfg; the agent writes it to the data partition)."""
        if slot not in ("A", "B"):
            raise ValidationError("slot", f"{slot!r} is not A or B")
        cmdline = self.service.bootspec(node, agent=False).cmdline
        words = [w.render() for w in cmdline if w.kind == "kernel"
                 and w.key not in INSTALLER_ONLY]  # fmt: skip
        return slot_boot_cfg(slot, words)

    def settings_tar(self, node: Node, host_url: str) -> bytes:
        """The node's settings as files of the installed system (provisioner.hostsettings)."""
        settings = self.service.settings
        found = self.service.view.snapshot().effective(node)
        cmdline = self.service.bootspec(node, agent=False).cmdline
        hs = host_settings(node.mac, node.hostname, cmdline)
        facts = release_facts(settings, found.release) if found.release else None
        loader = self._loader()
        conf = {
            "SERVER": self.service.server_url_for(host_url=host_url) or "",
            "MAC": node.mac,
            "INTERVAL": str(settings.report_interval),
            "ENV_OFFSET": str(loader.env_offset) if loader else "",
        }
        networkd = facts is None or facts.has_networkd
        return settings_tar(settings_files(hs, networkd=networkd, node_conf=conf))

    def report(self, token: str, form: Mapping[str, str]) -> Node:
        """Apply one agent report atomically; the event joins the node's timeline."""
        node = self.node_for_token(token)
        rep = parse_report(form)
        secret = {"credential"}  # its hash goes on the node, never into the timeline
        data: dict[str, Any] = {
            "status": rep.status,
            **{k: v for k, v in rep.fields.items() if k not in secret},
        }
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

    # -- the installed system ---------------------------------------------------------------
    def boot_report(self, secret: str, form: Mapping[str, str]) -> Outcome:
        """Apply one report of an installed system (provisioner.firstboot). A wrong
        credential or a report that contradicts the record is refused and recorded
        in the node's timeline (``report.refused``)."""
        rep = parse_boot_report(form)
        node = self.store.find_node(rep.mac)
        if node is None or not credential_ok(node, secret):
            if node is not None:
                self._refused(node, "a report with a credential that is not this node's", rep.slot)
            raise Unauthorized("no valid credential for this node")
        try:
            return self._apply_boot_report(node, rep, secret)
        except Contradiction as exc:
            self._refused(node, exc.message, rep.slot)
            raise

    def _apply_boot_report(self, node: Node, rep: BootReport, secret: str) -> Outcome:
        now = utcnow()
        outcome = apply_boot_report(node, rep, now)
        stale = node.running.get("reported_at", "") < (now - REFRESH).isoformat()
        same = outcome.node.running.get("switch") == node.running.get("switch")
        if not outcome.events and not stale and same and outcome.node.state is node.state:
            return outcome  # a heartbeat that changes nothing: no write (no boot-stamp bump)
        events: list[Event] = []

        def change(current: Node | None) -> Node:
            if current is None:
                raise NotFound("node", rep.mac)
            if not credential_ok(current, secret):
                raise Unauthorized("the node's credential was revoked")
            fresh = apply_boot_report(current, rep, now)
            events[:] = fresh.events  # read by change_node after this returns
            return fresh.node

        updated, _ = self.store.change_node(rep.mac, change, events=events)
        return Outcome(updated, tuple(events), outcome.answer)

    def _refused(self, node: Node, why: str, slot: str) -> None:
        self.store.add_event(
            Event(kind="report.refused", message=why, mac=node.mac, data={"slot": slot})
        )
