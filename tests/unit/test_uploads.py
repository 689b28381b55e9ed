"""Upload sessions on disk: offsets survive anything, locks keep writers apart,
nothing unverified ever reaches a final name."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from media.errors import ChecksumMismatch, IncompleteBody, TooLarge, UploadBusy
from media.storage import MediaDirs
from media.uploads import EXPIRY, Uploads

TARGET = {"target": "image", "name": "a", "version": "1"}


class Breaks(io.BytesIO):
    """A client stream that dies after ``limit`` bytes, as a closed socket does."""

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data[:limit])

    def read(self, n: int | None = -1) -> bytes:
        chunk = super().read(n)
        if not chunk:
            raise ConnectionResetError("client went away")
        return chunk


@pytest.fixture
def uploads(tmp_path: Path) -> Uploads:
    return Uploads(MediaDirs(tmp_path / "data"))


def test_a_broken_stream_keeps_the_prefix_and_a_fresh_process_resumes_it(
    uploads: Uploads, tmp_path: Path
) -> None:
    data = os.urandom(3 << 20)
    session, _ = uploads.create(TARGET, len(data), hashlib.sha256(data).hexdigest())
    with pytest.raises(IncompleteBody) as err:
        uploads.write(session, 0, Breaks(data, 1_234_567), len(data))
    assert err.value.offset == uploads.offset(session) == 1_234_567
    other = Uploads(MediaDirs(tmp_path / "data"))  # another worker: no running hash
    again = other.get(session.id)
    assert other.write(again, 1_234_567, io.BytesIO(data[1_234_567:]), None) == len(data)
    with other.completing(again) as done:
        assert done.path.read_bytes() == data
        assert done.sha256 == hashlib.sha256(data).hexdigest()
    assert other.all() == []


def test_a_second_writer_of_the_same_upload_is_refused_while_the_first_writes(
    uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("media.uploads.LOCK_WAIT", 0.2)
    session, _ = uploads.create(TARGET, 10, None)

    class Nested(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            with pytest.raises(UploadBusy, match="busy"):
                uploads.write(session, 0, io.BytesIO(b"x"), 1)
            return super().read(n)

    assert uploads.write(session, 0, Nested(b"0123456789"), 10) == 10


def test_growing_past_the_declared_size_or_the_limit_is_refused(tmp_path: Path) -> None:
    uploads = Uploads(MediaDirs(tmp_path / "data"), max_bytes=100)
    session, _ = uploads.create(TARGET, None, None, resumable=False)
    with pytest.raises(TooLarge, match="upload_max_bytes"):
        uploads.write(session, 0, io.BytesIO(bytes(101)), None)
    assert uploads.offset(session) == 0  # the chunk that would cross it was not written
    with pytest.raises(TooLarge, match="upload_max_bytes allows 100"):
        uploads.create(TARGET, 101, None)


def test_a_checksum_mismatch_discards_the_upload(uploads: Uploads) -> None:
    session, _ = uploads.create(TARGET, 3, "0" * 64)
    uploads.write(session, 0, io.BytesIO(b"abc"), 3)
    with pytest.raises(ChecksumMismatch), uploads.completing(session):
        pass
    assert uploads.all() == []
    assert list(uploads.dirs.uploads.iterdir()) == []


def test_uploads_nobody_touched_for_a_day_are_swept(uploads: Uploads) -> None:
    old, _ = uploads.create(TARGET, 10, None)
    fresh, _ = uploads.create({**TARGET, "version": "2"}, 10, None)
    stale = time.time() - EXPIRY - 60
    os.utime(uploads.dirs.uploads / f"{old.id}.part", (stale, stale))
    assert uploads.sweep() == [old.id]
    assert [s.id for s in uploads.all()] == [fresh.id]
