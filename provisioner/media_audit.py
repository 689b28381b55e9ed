"""The catalogue against the files on disk: a check that reports and repairs what
disagrees, and a GC of files no release or bundle names.

Uploads and deletes keep the two in step (each change holds its release's or
bundle's lock from the catalogue check to the record, :mod:`media.locks`), and
a crash between their steps leaves at most files nobody names. What else can
make them disagree -- a file deleted or changed by hand, a disk error, a data
directory restored from an older backup -- :meth:`MediaAudit.check` finds, at
``provisioner serve`` start and with ``provisioner media check``:

* a release whose image is missing, or has another size or sha256, is removed
  from the catalogue (event ``release.removed``, its other files go too); when a
  node or profile uses it, it stays and ``release.damaged`` says what is wrong;
* a release whose boot files are missing gets them rebuilt from its image
  (``release.repaired``);
* a bundle file that is missing or has other bytes: ``bundle.file.damaged``;
* files nobody names are reported and left to :meth:`MediaAudit.gc`, which
  removes those older than ``media_gc_grace_hours`` (at serve start, and with
  ``provisioner media gc``).

Hashing every image at every start would read gigabytes, so the sha256 of a file
whose size, mtime, ctime and inode are as when it was last hashed is taken from
``media/.uploads/verified-sha256.cache``; ``--full`` hashes everything again.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from media.errors import MediaBusy
from media.layout import bundle_file_relpath, release_boot_relpaths, release_relpath
from media.storage import sha256_file
from provisioner.domain import Event, Release
from provisioner.errors import Conflict, NotFound
from provisioner.media_library import MediaLibrary

#: in media/.uploads (never served): relpath -> [size, mtime_ns, ctime_ns, inode, sha256]
VERIFIED = "verified-sha256.cache"
#: what the GC walks (``.uploads`` has its own expiry: ``upload sweep``)
CATALOGUED_DIRS = ("images", "bundles")


@dataclass
class CheckReport:
    files: int = 0
    hashed: int = 0
    #: what disagreed and what was done, one line each
    problems: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)


@dataclass
class GcReport:
    removed: list[tuple[str, int]] = field(default_factory=list)
    young: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    #: stale one-request uploads and boot-file builds removed from media/.uploads
    uploads: int = 0


class MediaAudit:
    def __init__(self, library: MediaLibrary) -> None:
        self.lib = library
        self.store = library.store
        self.dirs = library.dirs
        self._verified: dict[str, list[object]] = {}
        self._loaded: dict[str, list[object]] = {}
        self._seen: set[str] = set()  # what this check looked at (the cache keeps only those)

    # -- what the catalogue names ------------------------------------------------------------
    def referenced(self) -> set[str]:
        names = set()
        for r in self.store.list_releases():
            names |= {release_relpath(r), *release_boot_relpaths(r).values()}
        for b in self.store.list_bundles():
            names |= {bundle_file_relpath(b.name, f) for f in b.files}
        return names

    def on_disk(self) -> list[str]:
        found = []
        for top in CATALOGUED_DIRS:
            for dirpath, _, files in os.walk(self.dirs.root / top):
                rel = Path(dirpath).relative_to(self.dirs.root)
                found += [f"{rel.as_posix()}/{f}" for f in files]
        return sorted(found)

    # -- the check -------------------------------------------------------------------------
    def check(self, *, full: bool = False) -> CheckReport:
        report = CheckReport()
        self._seen = set()
        self._load_verified(full)
        for r in self.store.list_releases():
            with self.lib.locks.hold("release", r.name, r.version):
                self._check_release(r.name, r.version, report)
        for b in self.store.list_bundles():
            for f in b.files:
                relpath = bundle_file_relpath(b.name, f)
                wrong = self._wrong(relpath, f.size, f.sha256, report)
                if wrong:
                    message = f"bundle {b.name}: its {f.kind} {f.filename} {wrong}"
                    self._event("bundle.file.damaged", message, bundle=b.name, kind=f.kind)
                    report.problems.append(message + "; upload it again")
        self._verified = {k: v for k, v in self._verified.items() if k in self._seen}
        self._save_verified()
        names = self.referenced()
        report.unreferenced = [p for p in self.on_disk() if p not in names]
        return report

    def _check_release(self, name: str, version: str, report: CheckReport) -> None:
        try:  # under its lock: as it is now, not as listed
            r = self.store.get_release(name, version)
        except NotFound:
            return
        wrong = self._wrong(release_relpath(r), r.size, r.sha256, report)
        if wrong:
            report.problems.append(self._drop_release(r, f"its image {wrong}"))
            return
        boot = release_boot_relpaths(r)
        missing = [k for k, p in boot.items() if not self.dirs.path(p).is_file()]
        if missing:
            self.lib.place_boot_files(self.dirs.path(release_relpath(r)), r)
            message = f"release {r.ref}: boot files {', '.join(missing)} were missing; rebuilt"
            self._event("release.repaired", message, ref=r.ref)
            report.problems.append(message)

    def _drop_release(self, r: Release, why: str) -> str:
        message = f"release {r.ref}: {why}; removed from the catalogue"
        try:
            gone = Event("release.removed", message, data={"ref": r.ref, "sha256": r.sha256})
            self.store.delete_release(r.name, r.version, [gone])
        except Conflict as exc:  # a node or profile uses it
            message = f"release {r.ref}: {why}; kept ({exc.message}): upload it again"
            self._event("release.damaged", message, ref=r.ref, sha256=r.sha256)
            return message
        for relpath in (release_relpath(r), *release_boot_relpaths(r).values()):
            self.dirs.remove(relpath)
        return message

    def _wrong(self, relpath: str, size: int, sha256: str, report: CheckReport) -> str | None:
        """What is wrong with the file at ``relpath``, or None when it is as catalogued."""
        report.files += 1
        self._seen.add(relpath)
        try:
            st = self.dirs.path(relpath).stat()
        except FileNotFoundError:
            return "is missing"
        if st.st_size != size:
            return f"has {st.st_size} bytes, the catalogue says {size}"
        stamp: list[object] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        known = self._verified.get(relpath)
        if known is None or known[:4] != stamp:
            report.hashed += 1
            known = [*stamp, sha256_file(self.dirs.path(relpath))]
            self._verified[relpath] = known
        if known[4] != sha256:
            return f"has other bytes (sha256 {known[4]}, the catalogue says {sha256})"
        return None

    def _event(self, event: str, message: str, **data: str) -> None:
        self.store.add_event(Event(event, message, data=data))

    def _load_verified(self, full: bool) -> None:
        self._verified, self._loaded = {}, {}
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((self.dirs.uploads / VERIFIED).read_text())
            if isinstance(data, dict):
                self._loaded = {k: v for k, v in data.items() if isinstance(v, list)}
        if not full:
            self._verified = dict(self._loaded)

    def _save_verified(self) -> None:
        if self._verified == self._loaded:
            return
        self.dirs.ensure()
        path = self.dirs.uploads / VERIFIED
        tmp = path.with_name(f"{VERIFIED}.{secrets.token_hex(8)}")
        tmp.write_text(json.dumps(self._verified))
        os.replace(tmp, path)

    # -- the GC ----------------------------------------------------------------------------
    def gc(
        self, grace_hours: float, *, dry_run: bool = False, now: float | None = None
    ) -> GcReport:
        """Remove the files under images/ and bundles/ that nothing names and that
        nobody touched for ``grace_hours``. Each is looked at under the lock of the
        release or bundle its path belongs to (one that is busy is left alone)."""
        now = time.time() if now is None else now
        report = GcReport()
        grace = grace_hours * 3600
        if not dry_run:
            report.uploads = len(self.lib.uploads.sweep(now, one_shot_grace=grace))
            for build in self.dirs.uploads.glob("boot-*"):  # a killed build's temp dir
                if now - build.lstat().st_mtime >= grace:
                    shutil.rmtree(build, ignore_errors=True)
                    report.uploads += 1
        names = self.referenced()
        for relpath in self.on_disk():
            if relpath in names:
                continue
            path = self.dirs.root / relpath
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if now - max(st.st_mtime, st.st_ctime) < grace:
                report.young.append(relpath)
                continue
            try:
                with self._lock_of(relpath):
                    if relpath in self.referenced():
                        continue
                    if not dry_run:
                        self.dirs.discard(path)
                    report.removed.append((relpath, st.st_size))
            except MediaBusy:
                report.busy.append(relpath)
        return report

    def _lock_of(self, relpath: str) -> contextlib.AbstractContextManager[None]:
        parts = relpath.split("/")
        if parts[0] == "images" and len(parts) >= 4:
            return self.lib.locks.hold("release", parts[1], parts[2], wait=0)
        if parts[0] == "bundles" and len(parts) >= 3:
            return self.lib.locks.hold("bundle", parts[1], wait=0)
        return contextlib.nullcontext()


def check_summary(report: CheckReport) -> str:
    return (
        f"{report.files} catalogued files checked ({report.hashed} hashed), "
        f"{len(report.problems)} problem(s), {len(report.unreferenced)} file(s) nothing names"
    )


def gc_lines(report: GcReport, grace_hours: float, *, dry_run: bool = False) -> list[str]:
    verb = "would remove" if dry_run else "removed"
    return [
        *(f"{verb} {p} ({size} bytes): nothing names it" for p, size in report.removed),
        f"{len(report.removed)} unreferenced file(s) {verb}, {len(report.young)} younger than "
        f"{grace_hours:g} h kept, {len(report.busy)} busy (being changed) left; "
        f"{report.uploads} abandoned upload(s) and build(s) removed from .uploads",
    ]


def audit_at_start(library: MediaLibrary, grace_hours: float) -> tuple[list[str], list[str]]:
    """``provisioner serve``, before any worker serves a file: check, repair, GC.
    Returns what was wrong (and what was done about it), and the rest of the story."""
    audit = MediaAudit(library)
    check = audit.check()
    return check.problems, [check_summary(check), *gc_lines(audit.gc(grace_hours), grace_hours)]
