"""The media library: release images and bundle files, from upload to download.

It ties the pure checks (squashfs superblock, bundle file formats), the upload
sessions and the store together. Used by the API and the CLI alike:

* an upload's *target* says what it becomes -- ``{"target": "image", "name":
  ..., "version": ...}`` or ``{"target": "bundle", "bundle": ..., "kind": ...,
  "filename": ...}``;
* :meth:`MediaLibrary.finish` checks a complete upload, links it under its
  final name and records it in the store, or refuses it and keeps nothing;
* deleting a release or bundle removes its files after the store agreed.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from media.bundlefiles import HEAD_BYTES, KINDS, TAIL_BYTES, check_bundle_file
from media.layout import (
    bundle_dir,
    bundle_file_relpath,
    release_boot_relpaths,
    release_filename,
    release_relpath,
)
from media.locks import MediaLocks
from media.releaseboot import build_release_boot
from media.releasefacts import ReleaseFacts
from media.squashfs import SUPERBLOCK_SIZE, parse_superblock
from media.storage import MediaDirs, read_head_tail
from media.uploads import Completed, Progress, Session, Uploads, check_sha256, check_size
from provisioner.config import Settings
from provisioner.domain import (
    Bundle,
    BundleFile,
    Event,
    Release,
    parse_release_ref,
    validate_name,
    validate_version,
)
from provisioner.errors import Conflict, NotFound, ValidationError
from provisioner.fields import bundle_from_fields, check_bundle
from provisioner.store import Store


@dataclass(frozen=True)
class BundleUpload:
    """A bundle after a file upload; ``replaced``: the file of that kind it had
    before, when the upload replaced a different one (it is gone now)."""

    bundle: Bundle
    replaced: BundleFile | None = None


Stored = Release | BundleUpload


class MediaLibrary:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.dirs = MediaDirs(settings.data_dir)
        self.uploads = Uploads(self.dirs, settings.upload_max_bytes)
        self.locks = MediaLocks(self.dirs.uploads)
        #: who the events name (:meth:`acting`: the web console's user); None: nobody
        self.actor: str | None = None

    def acting(self, actor: str | None) -> MediaLibrary:
        """This library (same uploads, same store) recording ``actor`` in its events."""
        other = copy.copy(self)
        other.actor = actor
        return other

    def _event(self, event: str, message: str, **data: str) -> Event:
        """A media change for the timeline, written in the change's own transaction."""
        return Event(kind=event, message=message, data=data, actor=self.actor)

    # -- targets -------------------------------------------------------------------
    def target(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Validate what an upload is for (fields as in ``POST /api/v1/uploads``)."""
        kind = data.get("target")
        if kind == "image":
            name = validate_name(data.get("name"), "name")
            version = validate_version(data.get("version"), "version")
            return {"target": "image", "name": name, "version": version}
        if kind == "bundle":
            bundle = validate_name(data.get("bundle"), "bundle")
            file_kind = data.get("kind")
            if file_kind not in KINDS:
                raise ValidationError("kind", f"{file_kind!r} is not one of: {', '.join(KINDS)}")
            filename = data.get("filename")
            if filename in (None, ""):
                current = self._find_bundle(bundle)
                filename = getattr(current, file_kind) if current else None
                if not filename:
                    raise ValidationError("filename", "required: the bundle names no such file")
            bundle_from_fields(bundle, {file_kind: filename}, None, partial=False)
            target = {"target": "bundle", "bundle": bundle, "kind": file_kind, "filename": filename}
            if _declared_raw(data.get("raw")):
                if file_kind != "image":
                    raise ValidationError("raw", f"only an image can be raw, not the {file_kind}")
                target["raw"] = "true"
            return target
        raise ValidationError("target", f"{kind!r} is not one of: image, bundle")

    def check_target(self, target: Mapping[str, str], sha256: str | None) -> None:
        """Refuse early what :meth:`finish` would refuse anyway (saves an upload)."""
        if target["target"] != "image":
            return
        ref = f"{target['name']}:{target['version']}"
        for r in self.store.list_releases():
            if r.ref == ref:
                raise Conflict(f"release {ref!r} already exists")
            if sha256 is not None and r.sha256 == sha256:
                raise Conflict(f"release {ref!r} has the same content as release {r.ref}")

    def _find_bundle(self, name: str) -> Bundle | None:
        try:
            return self.store.get_bundle(name)
        except NotFound:
            return None

    # -- uploads ---------------------------------------------------------------------
    def start(
        self, target: Mapping[str, str], size: object, sha256: object, *, resumable: bool = True
    ) -> tuple[Session, bool]:
        digest = check_sha256(sha256)
        self.check_target(target, digest)
        return self.uploads.create(target, check_size(size), digest, resumable=resumable)

    def upload(
        self,
        target: Mapping[str, str],
        stream: BinaryIO,
        length: int | None,
        sha256: object = None,
        progress: Progress | None = None,
    ) -> Stored:
        """One go, not resumable: whatever goes wrong, nothing is kept."""
        session, _ = self.start(target, length, sha256, resumable=False)
        try:
            self.uploads.write(session, 0, stream, length, progress)
            return self.finish(session)
        finally:
            self.uploads.discard(session)

    def finish(self, session: Session) -> Stored:
        with self.uploads.completing(session) as done:
            if session.target["target"] == "image":
                return self._finish_release(session.target, done)
            return self._finish_bundle_file(session.target, done)

    def _finish_release(self, target: Mapping[str, str], done: Completed) -> Release:
        head, _, _ = read_head_tail(done.path, SUPERBLOCK_SIZE, 0)
        parse_superblock(head, done.size, "file")
        name, version = target["name"], target["version"]
        release = Release(name, version, release_filename(name, version), done.size, done.sha256)
        self.dirs.ensure()
        relpath, boot = release_relpath(release), release_boot_relpaths(release)
        with self.locks.hold("release", name, version):
            # The catalogue decides, under the lock: the first upload to get here wins,
            # the others are refused before they build or place anything. Nobody else
            # is between placing and recording this release, so a file already under
            # its name belongs to no release (a crash left it): ours replaces it.
            self.check_target(target, done.sha256)
            facts = self.place_boot_files(done.path, release)
            added = self._event("release.added", f"release {release.ref} added ({release.size} "
                           f"bytes, kernel {facts.kernel_version})",
                           ref=release.ref, sha256=release.sha256)  # fmt: skip
            try:
                self.dirs.replace(done.path, relpath)
                return self.store.add_release(release, [added])
            except BaseException:
                for p in (relpath, *boot.values()):
                    self.dirs.remove(p)
                raise

    def place_boot_files(self, image: Path, release: Release) -> ReleaseFacts:
        """Build the release's boot files from ``image`` and put them where they belong
        (the caller holds the release's lock). The release contract
        (docs/installer.md): ReleaseContractError (422) names what is missing, and
        nothing is placed."""
        boot = release_boot_relpaths(release)
        with tempfile.TemporaryDirectory(dir=self.dirs.uploads, prefix="boot-") as t:
            built = build_release_boot(image, Path(t))
            for key, src in (("KERNEL", built.vmlinuz), ("INITRD", built.initrd),
                             ("RECORD", built.manifest)):  # fmt: skip
                self.dirs.replace(src, boot[key])
        return built.facts

    def _finish_bundle_file(self, target: Mapping[str, str], done: Completed) -> BundleUpload:
        name, kind, filename = target["bundle"], target["kind"], target["filename"]
        head, tail, _ = read_head_tail(done.path, HEAD_BYTES, TAIL_BYTES)
        raw = target.get("raw") == "true"
        fmt = check_bundle_file(kind, filename, head, tail, done.size, raw=raw)
        new_file = BundleFile(kind, filename, done.size, done.sha256, fmt)
        relpath = bundle_file_relpath(name, new_file)
        with self.locks.hold("bundle", name):
            placed = self.dirs.place(done.path, relpath)  # False: the same bytes, this name
            old: list[BundleFile] = []

            def change(current: Bundle | None) -> Bundle:
                base = current or Bundle(name=name)
                old[:] = [f for f in base.files if f.kind == kind]
                files = (*(f for f in base.files if f.kind != kind), new_file)
                named: dict[str, Any] = {kind: filename}
                bundle = replace(base, **named, files=files)
                check_bundle(bundle)
                return bundle

            message = f"bundle {name}: {kind} {filename} uploaded ({fmt})"
            added = self._event(
                "bundle.file.added", message, bundle=name, kind=kind, sha256=done.sha256
            )
            try:
                bundle, _ = self.store.change_bundle(name, change, [added])
            except BaseException:
                if placed:
                    self.dirs.remove(relpath)
                raise
            for f in old:
                if bundle_file_relpath(name, f) != relpath:
                    self.dirs.remove(bundle_file_relpath(name, f))
        same = (new_file.filename, new_file.sha256)
        replaced = next((f for f in old if (f.filename, f.sha256) != same), None)
        return BundleUpload(bundle, replaced)

    # -- deleting ------------------------------------------------------------------------
    def delete_release(self, ref: str) -> None:
        """The catalogue first, then the files: a crash in between leaves only files
        no release names (the media GC's), never a release without its file."""
        name, version = parse_release_ref(ref)
        with self.locks.hold("release", name, version):
            release = self.store.get_release(name, version)
            deleted = self._event(
                "release.deleted", f"release {release.ref} deleted", ref=release.ref
            )
            self.store.delete_release(name, version, [deleted])
            for relpath in (release_relpath(release), *release_boot_relpaths(release).values()):
                self.dirs.remove(relpath)

    def delete_bundle(self, name: str) -> None:
        with self.locks.hold("bundle", name):
            self.store.delete_bundle(
                name, [self._event("bundle.deleted", f"bundle {name} deleted", bundle=name)]
            )
            self.dirs.remove_tree(bundle_dir(validate_name(name, "name")))

    def delete_bundle_file(self, name: str, kind: str) -> Bundle:
        if kind not in KINDS:
            raise NotFound("bundle file", f"{name}/{kind}")
        gone: list[BundleFile] = []

        def change(current: Bundle | None) -> Bundle:
            if current is None:
                raise NotFound("bundle", name)
            f = current.file(kind)
            if f is None:
                raise NotFound("bundle file", f"{name}/{kind}")
            gone.append(f)
            files = tuple(x for x in current.files if x.kind != kind)
            cleared: dict[str, Any] = {kind: None}
            bundle = replace(current, **cleared, files=files)
            if not (bundle.iso or bundle.definition or bundle.image):
                raise Conflict(
                    f"{kind} is the last file of bundle {name!r}; delete the bundle instead"
                )
            return bundle

        deleted = self._event(
            "bundle.file.deleted", f"bundle {name}: {kind} deleted", bundle=name, kind=kind
        )
        with self.locks.hold("bundle", name):
            bundle, _ = self.store.change_bundle(name, change, [deleted])
            for f in gone:
                self.dirs.remove(bundle_file_relpath(name, f))
        return bundle


def _declared_raw(value: object) -> bool:
    """The ``raw`` field of an upload target (JSON true/false, or a query string)."""
    if value in (None, False, "", "0", "false", "no"):
        return False
    if value in (True, "1", "true", "yes"):
        return True
    raise ValidationError("raw", f"{value!r} is not true or false")


def _boot_record(settings: Settings, release: Release) -> dict[str, Any] | None:
    paths = release_boot_relpaths(release)
    try:
        record: dict[str, Any] = json.loads(
            MediaDirs(settings.data_dir).path(paths["RECORD"]).read_text()
        )
    except (OSError, ValueError):
        return None  # a release recorded before boot files existed
    return record


def release_boot_files(settings: Settings, release: Release) -> dict[str, tuple[str, int, str]]:
    """KERNEL, INITRD -> (relative media path, size, sha256) of the release's boot
    files; empty when it has none."""
    record = _boot_record(settings, release)
    if record is None:
        return {}
    dirs, paths = MediaDirs(settings.data_dir), release_boot_relpaths(release)
    out = {}
    for key, sha_key in (("KERNEL", "vmlinuz_sha256"), ("INITRD", "initrd_sha256")):
        try:
            size = dirs.path(paths[key]).stat().st_size
        except OSError:
            return {}
        out[key] = (paths[key], size, str(record[sha_key]))
    return out


def release_facts(settings: Settings, release: Release) -> ReleaseFacts | None:
    """What ``image add`` found in the release (init, networkd, ...), or None."""
    record = _boot_record(settings, release)
    return None if record is None else ReleaseFacts(**record["facts"])
