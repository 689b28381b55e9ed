"""Uploads of one ``NAME:VERSION`` racing each other, and a server killed among them,
over real HTTP (``provisioner serve`` with two gunicorn workers, stdlib HTTP clients in
threads): one upload wins, and the catalogue and the files on disk always agree.

Every upload in these tests is a valid release with its own bytes: one small squashfs
with a different tail after its ``bytes_used`` (which the superblock check allows).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from media.locks import LOCKS_DIR
from provisioner.media_audit import VERIFIED
from tests.support.media import make_squashfs, needs_mksquashfs
from tests.support.server import Server, kill_hard, serve

pytestmark = [needs_mksquashfs, pytest.mark.postgres]


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("race") / "base.sqfs"
    return make_squashfs(path, "gzip", payload=20_000, seed=7).read_bytes()


def variant(base: bytes, tag: str) -> bytes:
    """The base image with its own tail: another valid release, another sha256."""
    return base + b"\0" * 512 + tag.encode()


def upload(server: Server, name: str, version: str, body: bytes) -> tuple[int, dict[str, Any]]:
    host, port = server.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(
            "POST",
            f"/api/v1/images?name={name}&version={version}",
            body=body,
            headers={
                "Authorization": f"Bearer {server.token}",
                "Content-Type": "application/octet-stream",
            },
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def race(server: Server, name: str, version: str, bodies: list[bytes]) -> list[int]:
    """All ``bodies`` uploaded at once as NAME:VERSION; the statuses, in order."""
    statuses = [0] * len(bodies)
    start = threading.Barrier(len(bodies))

    def one(i: int) -> None:
        start.wait(timeout=30)
        statuses[i] = upload(server, name, version, bodies[i])[0]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return statuses


def get(server: Server, path: str) -> Any:
    host, port = server.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {server.token}"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        return json.loads(resp.read())
    finally:
        conn.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def catalogue_agrees_with_disk(server: Server) -> dict[str, str]:
    """Every catalogued release's image and boot files are on disk with its sha256, and
    nothing else is under media/images. Returns ref -> sha256."""
    releases = {r["ref"]: r for r in get(server, "/api/v1/images")}
    expected = set()
    for ref, r in releases.items():
        name, version = ref.split(":")
        base = f"images/{name}/{version}/{name}-{version}"
        image = server.data_dir / "media" / f"{base}.squashfs"
        assert image.is_file(), f"release {ref} is catalogued, its file is missing"
        assert sha256(image.read_bytes()) == r["sha256"], f"release {ref}: other bytes on disk"
        expected |= {f"{base}.{s}" for s in ("squashfs", "vmlinuz", "initrd.img", "boot.json")}
    on_disk = {p for p in server.media() if p.startswith("images/")}
    assert on_disk == expected, f"files without a release: {sorted(on_disk - expected)}"
    return {ref: r["sha256"] for ref, r in releases.items()}


def test_of_concurrent_uploads_of_one_release_exactly_one_wins_and_its_file_is_the_catalogued_one(
    tmp_path: Path, db_url: str, base_image: bytes
) -> None:
    """50 rounds of two, then 50 rounds of five uploads at once, each round its own
    NAME:VERSION (one server: its start is not what is measured)."""
    (tmp_path / "data").mkdir(exist_ok=True)  # PostgreSQL: no SQLite file made it
    with serve(tmp_path, database_url=db_url, http_workers="2") as server:
        winners = {}
        for uploaders in (2, 5):
            for n in range(50):
                bodies = [variant(base_image, f"{uploaders}-{n}-{i}") for i in range(uploaders)]
                statuses = race(server, "race", f"r{uploaders}-{n}", bodies)
                assert sorted(statuses) == [201] + [409] * (uploaders - 1), (uploaders, n, statuses)
                winners[f"race:r{uploaders}-{n}"] = sha256(bodies[statuses.index(201)])
        assert catalogue_agrees_with_disk(server) == winners


def test_a_server_killed_at_random_moments_during_uploads_never_leaves_a_release_without_its_file(
    tmp_path: Path, db_url: str, base_image: bytes
) -> None:
    """Kill (SIGKILL, master and workers) while five uploads of one release run; after
    each restart (whose check and GC ran) the catalogue and the disk agree."""
    rng = random.Random(20261202)
    (tmp_path / "data").mkdir(exist_ok=True)
    token = None
    for n in range(6):
        with serve(
            tmp_path, f"kill{n}", database_url=db_url, http_workers="2", token=token,
            media_gc_grace_hours="0", log_level="INFO",
        ) as server:  # fmt: skip
            token = server.token
            catalogue_agrees_with_disk(server)  # what the last kill left, the start cleared
            left = (server.data_dir / "media" / ".uploads").iterdir()
            assert [p.name for p in left if p.name not in (LOCKS_DIR, VERIFIED)] == []
            stop = threading.Event()
            threads = [
                threading.Thread(target=_keep_uploading, args=(server, base_image, n, i, stop))
                for i in range(5)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 2.0))
            kill_hard(server.proc)
            stop.set()
            for t in threads:
                t.join(timeout=60)
    with serve(tmp_path, "last", database_url=db_url, token=token,
               media_gc_grace_hours="0") as server:  # fmt: skip
        assert len(catalogue_agrees_with_disk(server)) > 0, "no upload got through: kills too early"


def test_the_startup_check_repairs_what_was_changed_behind_the_catalogue_and_says_so(
    tmp_path: Path, db_url: str, base_image: bytes
) -> None:
    """A release whose image was deleted, one whose image has other bytes, one that
    lost a boot file, and a file nothing names (the GC's, after its grace)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    with serve(tmp_path, "first", database_url=db_url) as server:
        for v in ("1", "2", "3"):
            assert upload(server, "keep", v, variant(base_image, f"keep-{v}"))[0] == 201
        token = server.token
    media = tmp_path / "data" / "media"
    (media / "images/keep/1/keep-1.squashfs").unlink()
    image2 = media / "images/keep/2/keep-2.squashfs"
    image2.write_bytes(image2.read_bytes()[:-1] + b"!")
    (media / "images/keep/3/keep-3.vmlinuz").unlink()
    stray = media / "images/gone/9/gone-9.squashfs"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"left by a crash")
    with serve(tmp_path, "second", database_url=db_url, token=token,
               media_gc_grace_hours="0", log_level="INFO") as server:  # fmt: skip
        assert set(catalogue_agrees_with_disk(server)) == {"keep:3"}
        kinds = {(e["kind"], e["data"].get("ref")) for e in get(server, "/api/v1/events")}
        assert {("release.removed", "keep:1"), ("release.removed", "keep:2"),
                ("release.repaired", "keep:3")} <= kinds  # fmt: skip
        log = server.log.read_text()
        assert "release keep:1: its image is missing; removed from the catalogue" in log
        assert "release keep:2: its image has other bytes" in log
        assert "removed images/gone/9/gone-9.squashfs (15 bytes): nothing names it" in log
        assert not stray.parent.exists()


def _keep_uploading(server: Server, base: bytes, n: int, i: int, stop: threading.Event) -> None:
    """Upload kill:kN-0, kN-1, ... (as do four other threads, each its own bytes) until
    ``stop``; the server is killed under it, so any answer, or none."""
    with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
        for j in range(1000):
            if stop.is_set():
                return
            upload(server, "kill", f"k{n}-{j}", variant(base, f"kill-{n}-{j}-{i}"))
