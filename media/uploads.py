"""Resumable uploads into the data directory.

An upload is a *session*: ``media/.uploads/<id>.json`` says what it is for (its
``target``), how large it will be and, optionally, the sha256 the client
declared; ``<id>.part`` holds the bytes received so far. The part file only
ever grows by bytes received in order, so its size *is* the upload's offset --
after a client that went away, and after a server that was killed. Nothing is
visible under a final name until :meth:`Uploads.completing` has hashed the
whole file and the caller has checked and placed it.

Processes share nothing but the directory: a chunk takes an exclusive
``flock`` on the part file, so two requests (in any worker) never write the
same upload at once. Sessions untouched for :data:`EXPIRY` seconds are swept.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from media.errors import (
    ChecksumMismatch,
    IncompleteBody,
    InsufficientStorage,
    OffsetMismatch,
    TooLarge,
    UploadBusy,
)
from media.locks import flock_within
from media.storage import BLOCK, FILE_MODE, MediaDirs, fsync_dir, hash_fd
from provisioner.errors import Conflict, NotFound, ValidationError

EXPIRY = 24 * 3600
#: seconds a chunk waits for the request before it to let go of the upload
LOCK_WAIT = 10.0
_ID_RE = re.compile(r"[0-9a-f]{32}\Z")
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    target: dict[str, str]
    size: int | None
    sha256: str | None
    created_at: float
    resumable: bool = True


@dataclass(frozen=True, slots=True)
class Completed:
    path: Path
    size: int
    sha256: str


def check_sha256(value: object, field: str = "sha256") -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _SHA256_RE.match(value.lower()):
        raise ValidationError(field, "must be 64 hexadecimal digits (a SHA-256)")
    return value.lower()


def check_size(value: object, field: str = "size") -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(field, "must be a number of bytes (an integer >= 0)")
    return value


class _Hashers:
    """Running sha256 per upload in this process, so a file received in one
    go (or in order by this worker) is not read back to be hashed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[int, Any]] = {}

    def take(self, upload_id: str, offset: int) -> Any:
        with self._lock:
            pos, h = self._by_id.pop(upload_id, (0, None))
        if h is not None and pos == offset:
            return h
        return hashlib.sha256() if offset == 0 else None

    def put(self, upload_id: str, offset: int, h: Any) -> None:
        if h is not None:
            with self._lock:
                self._by_id[upload_id] = (offset, h)

    def drop(self, upload_id: str) -> None:
        with self._lock:
            self._by_id.pop(upload_id, None)


class Uploads:
    def __init__(self, dirs: MediaDirs, max_bytes: int = 0) -> None:
        self.dirs = dirs
        self.max_bytes = max_bytes
        self._hashers = _Hashers()

    # -- sessions ------------------------------------------------------------------
    def _paths(self, upload_id: str) -> tuple[Path, Path]:
        return self.dirs.uploads / f"{upload_id}.json", self.dirs.uploads / f"{upload_id}.part"

    def create(
        self,
        target: Mapping[str, str],
        size: int | None,
        sha256: str | None,
        *,
        resumable: bool = True,
    ) -> tuple[Session, bool]:
        """A new session, or -- for a resumable upload with a declared sha256 --
        the unfinished one with the same target, size and sha256 (so running
        the same upload again resumes it). Returns ``(session, created)``."""
        self.check_room(size, size)
        if resumable and sha256 is not None:
            for s in self.all():
                if s.resumable and (s.target, s.size, s.sha256) == (dict(target), size, sha256):
                    return s, False
        self.sweep()
        session = Session(secrets.token_hex(16), dict(target), size, sha256, time.time(), resumable)
        meta, part = self._paths(session.id)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(session)))
        os.replace(tmp, meta)
        fsync_dir(self.dirs.uploads)
        return session, True

    def get(self, upload_id: str) -> Session:
        if not _ID_RE.match(upload_id):
            raise NotFound("upload", upload_id)
        meta, _ = self._paths(upload_id)
        try:
            data = json.loads(meta.read_text())
        except FileNotFoundError:
            raise NotFound("upload", upload_id) from None
        return Session(**data)

    def all(self) -> list[Session]:
        self.dirs.ensure()
        sessions = []
        for meta in sorted(self.dirs.uploads.glob("*.json")):
            with contextlib.suppress(NotFound, ValueError, TypeError):
                sessions.append(self.get(meta.stem))
        return sorted(sessions, key=lambda s: s.created_at)

    def offset(self, session: Session) -> int:
        try:
            return self._paths(session.id)[1].stat().st_size
        except FileNotFoundError:
            raise NotFound("upload", session.id) from None

    def expires_at(self, session: Session) -> float:
        try:
            return self._paths(session.id)[1].stat().st_mtime + EXPIRY
        except FileNotFoundError:
            return session.created_at + EXPIRY

    def discard(self, session: Session) -> None:
        self._hashers.drop(session.id)
        for path in self._paths(session.id):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def sweep(self, now: float | None = None, *, one_shot_grace: float | None = None) -> list[str]:
        """Discard sessions nobody wrote to for :data:`EXPIRY` seconds and, with
        ``one_shot_grace``, the one-request uploads (nobody can resume those: what a
        killed server left) nobody wrote to for that many seconds. A session a
        request holds stays."""
        now = time.time() if now is None else now
        gone = []
        for s in self.all():
            idle = now - (self.expires_at(s) - EXPIRY)
            if idle > EXPIRY or (
                one_shot_grace is not None and not s.resumable and idle >= one_shot_grace
            ):
                with contextlib.suppress(UploadBusy, NotFound), self._locked(s):
                    self.discard(s)
                    gone.append(s.id)
        if one_shot_grace is not None:  # killed between creating a part and its .json
            for path in [*self.dirs.uploads.glob("*.part"), *self.dirs.uploads.glob("*.tmp")]:
                meta = path.with_suffix(".json")
                with contextlib.suppress(FileNotFoundError):
                    if not meta.exists() and now - path.stat().st_mtime >= one_shot_grace:
                        path.unlink()
                        gone.append(path.stem)
        return gone

    # -- limits ---------------------------------------------------------------------
    def check_room(self, total: int | None, need: int | None) -> None:
        """Refuse a file of ``total`` bytes over ``upload_max_bytes``, or
        ``need`` more bytes than the disk has free."""
        if total is not None and self.max_bytes and total > self.max_bytes:
            raise TooLarge(
                "size",
                f"the upload has {total} bytes; upload_max_bytes allows {self.max_bytes}",
            )
        if need:
            free = self.dirs.free_bytes()
            if need > free:
                raise InsufficientStorage(
                    f"not enough free disk for the upload in {self.dirs.root}: "
                    f"{need} bytes needed, {free} free"
                )

    # -- writing ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, session: Session, wait: float = 0.0) -> Iterator[int]:
        """Hold the upload's lock, waiting up to ``wait`` seconds for it: a
        client resuming right after its connection broke finds the old request
        still noticing the end of its body."""
        _, part = self._paths(session.id)
        try:
            fd = os.open(part, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound("upload", session.id) from None
        try:
            if not flock_within(fd, wait):
                raise UploadBusy(f"upload {session.id} is busy: another request is writing it")
            yield fd
        finally:
            os.close(fd)

    def write(
        self,
        session: Session,
        start: int,
        stream: BinaryIO,
        length: int | None,
        progress: Progress | None = None,
    ) -> int:
        """Append ``length`` bytes (None: until end of stream) read from
        ``stream`` at ``start``, which must be the current offset. Returns the
        new offset. What arrived stays, even when the stream breaks off."""
        with self._locked(session, LOCK_WAIT) as fd:
            offset = os.fstat(fd).st_size
            if start != offset:
                raise OffsetMismatch(
                    f"the chunk starts at byte {start}, but upload {session.id} has "
                    f"{offset} bytes; send the rest from byte {offset}",
                    offset,
                )
            cap = session.size
            if cap is not None and length is not None and start + length > cap:
                raise TooLarge("Content-Range", f"ends past the declared size of {cap} bytes")
            self.check_room(cap, length)
            hasher = self._hashers.take(session.id, start)
            os.lseek(fd, start, os.SEEK_SET)
            received, broken = 0, None
            try:
                while length is None or received < length:
                    want = BLOCK if length is None else min(BLOCK, length - received)
                    try:
                        chunk = stream.read(want)
                    except OSError as exc:  # client gone, or idle past the socket timeout
                        broken = exc
                        break
                    if not chunk:
                        break
                    self._check_growth(cap, start + received + len(chunk))
                    _write_all(fd, chunk)
                    received += len(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
            finally:
                with contextlib.suppress(OSError):
                    os.fsync(fd)
                self._hashers.put(session.id, start + received, hasher)
        end = start + received
        if broken is not None or (length is not None and received < length):
            raise IncompleteBody(
                f"the client sent {received} of {length if length is not None else '?'} bytes "
                f"({broken or 'end of stream'}); upload {session.id} stands at byte {end}",
                end,
            )
        return end

    def _check_growth(self, cap: int | None, total: int) -> None:
        if cap is not None and total > cap:
            raise TooLarge("body", f"is longer than the declared size of {cap} bytes")
        if self.max_bytes and total > self.max_bytes:
            raise TooLarge(
                "body", f"is longer than upload_max_bytes ({self.max_bytes} bytes); stopped"
            )

    @contextlib.contextmanager
    def completing(self, session: Session) -> Iterator[Completed]:
        """Hold the upload while the caller checks and places the complete,
        hashed file. A refusal (any ``ProvisionerError`` subclass of
        ``ValidationError`` or ``Conflict``) discards it: nothing is stored."""
        with self._locked(session, LOCK_WAIT) as fd:
            size = os.fstat(fd).st_size
            if session.size is not None and size != session.size:
                raise IncompleteBody(
                    f"upload {session.id} has {size} of {session.size} bytes", size
                )
            hasher = self._hashers.take(session.id, size) or hash_fd(fd)
            digest = hasher.hexdigest()
            if session.sha256 is not None and digest != session.sha256:
                self.discard(session)
                raise ChecksumMismatch(session.sha256, digest)
            try:
                yield Completed(self._paths(session.id)[1], size, digest)
            except (ValidationError, Conflict):
                self.discard(session)
                raise
            self.discard(session)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage(
                    f"the disk is full: the upload stopped with {os.strerror(exc.errno)}"
                ) from exc
            raise
        view = view[n:]
