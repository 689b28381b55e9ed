"""Media over real HTTP: ``provisioner serve`` (gunicorn, the HTTP front) and curl.

Ranges are compared with what ``dd`` reads from the file; uploads are cut off
by a client that closes its socket and by a server killed with SIGKILL, then
resumed; a full disk is a real tmpfs in a private mount namespace.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.media import make_squashfs, needs_mksquashfs, random_file
from tests.support.server import BIN, Server, curl, descendants, kill_hard, serve

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
OCTETS = "Content-Type: application/octet-stream"


#: a release on disk: its image and the boot files image add builds from it
RELEASE_FILES = [
    f"images/avbox/2.0/avbox-2.0.{suffix}"
    for suffix in ("boot.json", "initrd.img", "squashfs", "vmlinuz")
]


def _dd(path: Path, start: int, count: int) -> bytes:
    return subprocess.run(
        ["dd", f"if={path}", "bs=65536", "iflag=skip_bytes,count_bytes", f"skip={start}",
         f"count={count}", "status=none"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def _json(result: subprocess.CompletedProcess[bytes]) -> Any:
    return json.loads(result.stdout.decode())


def _place(server: Server, path: Path) -> str:
    """Put a file where a release image lives; the download route serves what is on disk."""
    dest = server.data_dir / "media" / "images" / "t" / "1" / "t-1.squashfs"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)
    return f"{server.base}/media/images/t/1/t-1.squashfs"


def _multipart(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    boundary = content_type.split("boundary=")[1].encode()
    parts = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        rng = re.search(rb"Content-Range: (bytes \d+-\d+/\d+)", head)
        assert rng is not None
        parts.append((rng.group(1).decode(), data.removesuffix(b"\r\n")))
    return parts


# -- ranges ------------------------------------------------------------------------------------
def test_curl_ranges_return_exactly_the_bytes_dd_reads(tmp_path: Path) -> None:
    src = random_file(tmp_path / "file.bin", 5_000_003)
    n = src.stat().st_size
    with serve(tmp_path) as server:
        url = _place(server, src)
        cases = {
            "first byte": ("0-0", 0, 1),
            "last byte": (f"{n - 1}-{n - 1}", n - 1, 1),
            "middle": ("1000000-2999999", 1_000_000, 2_000_000),
            "suffix": ("-4097", n - 4097, 4097),
            "open end": (f"{n - 70000}-", n - 70000, 70000),
            "end past the file": (f"{n - 10}-{n + 1000}", n - 10, 10),
        }
        for what, (spec, start, count) in cases.items():
            got = curl("-r", spec, "-D", str(tmp_path / "h"), url)
            headers = (tmp_path / "h").read_text()
            assert headers.startswith("HTTP/1.1 206"), what
            assert f"Content-Range: bytes {start}-{start + count - 1}/{n}" in headers, what
            assert got.stdout == _dd(src, start, count), what
        whole = curl("-D", str(tmp_path / "h"), url)
        assert whole.stdout == src.read_bytes()
        beyond = curl("-r", f"{n}-{n + 10}", "-D", str(tmp_path / "h"), url)
        assert (tmp_path / "h").read_text().startswith("HTTP/1.1 416")
        assert f"Content-Range: bytes */{n}" in (tmp_path / "h").read_text()
        assert b"range_not_satisfiable" in beyond.stdout
        multi = curl("-r", "0-99,2000000-2000099,-10", "-D", str(tmp_path / "h"), url)
        headers = (tmp_path / "h").read_text()
        ctype = re.search(r"Content-Type: (multipart/byteranges; boundary=\w+)", headers)
        assert ctype is not None
        length = re.search(r"Content-Length: (\d+)", headers)
        assert length is not None
        assert int(length.group(1)) == len(multi.stdout)
        assert _multipart(multi.stdout, ctype.group(1)) == [
            (f"bytes 0-99/{n}", _dd(src, 0, 100)),
            (f"bytes 2000000-2000099/{n}", _dd(src, 2_000_000, 100)),
            (f"bytes {n - 10}-{n - 1}/{n}", _dd(src, n - 10, 10)),
        ]


def test_head_etag_if_range_and_http_1_0(tmp_path: Path) -> None:
    src = random_file(tmp_path / "file.bin", 300_000)
    with serve(tmp_path) as server:
        url = _place(server, src)
        head = curl("-I", url).stdout.decode()
        assert head.startswith("HTTP/1.1 200")
        assert "Content-Length: 300000" in head
        assert "Accept-Ranges: bytes" in head
        etag = re.search(r'ETag: ("[^"]+")', head)
        assert etag is not None
        fresh = curl("-r", "10-19", "-H", f"If-Range: {etag.group(1)}", "-w", "%{http_code}", url)
        assert fresh.stdout == src.read_bytes()[10:20] + b"206"
        stale = curl("-r", "10-19", "-H", 'If-Range: "old"', "-w", "%{http_code}", url)
        assert stale.stdout == src.read_bytes() + b"200"
        same = curl("-H", f"If-None-Match: {etag.group(1)}", "-w", "%{http_code}", url)
        assert same.stdout == b"304"
        old = curl("--http1.0", "-r", "-5", "-D", "-", url).stdout
        assert old.startswith((b"HTTP/1.0 206", b"HTTP/1.1 206"))
        assert old.endswith(src.read_bytes()[-5:])
        assert curl("-w", "%{http_code}", "-o", "/dev/null", url + "x").stdout == b"404"


def _rchar(pid: int) -> int:
    text = Path(f"/proc/{pid}/io").read_text()
    match = re.search(r"rchar: (\d+)", text)
    assert match is not None
    return int(match.group(1))


def test_a_range_request_reads_only_the_bytes_it_sends(tmp_path: Path) -> None:
    """The worker's rchar (bytes read, sendfile included) grows by about the
    range, not by everything before it (what werkzeug's send_file costs)."""
    size = 64 << 20
    src = random_file(tmp_path / "big.bin", size)
    with serve(tmp_path) as server:
        url = _place(server, src)
        assert curl("-o", "/dev/null", url).returncode == 0  # warm up the worker
        (worker,) = descendants(server.proc.pid)
        before = _rchar(worker)
        tail = curl("-r", "-1048576", url).stdout
        after_range = _rchar(worker)
        whole = curl("-o", "/dev/null", "-w", "%{size_download}", url).stdout
        after_whole = _rchar(worker)
    assert tail == src.read_bytes()[-(1 << 20) :]
    assert int(whole) == size
    assert after_whole - after_range >= size  # the measure sees sendfile()
    assert after_range - before < 4 << 20, "a 1 MiB range read far more than 1 MiB"


# -- uploads -----------------------------------------------------------------------------------
@pytest.fixture
def squashfs(tmp_path: Path) -> Path:
    if shutil.which("mksquashfs") is None:
        pytest.skip("squashfs-tools not installed")
    return make_squashfs(tmp_path / "avbox.sqfs", "gzip", payload=6 << 20, seed=3)


def _start(server: Server, path: Path) -> dict[str, Any]:
    body = {
        "target": "image",
        "name": "avbox",
        "version": "2.0",
        "size": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    result = curl(*server.auth, "-H", "Content-Type: application/json", "-d", json.dumps(body),
                  f"{server.base}/api/v1/uploads")  # fmt: skip
    return dict(_json(result))


def _offset(server: Server, upload_id: str) -> int:
    return int(_json(curl(*server.auth, f"{server.base}/api/v1/uploads/{upload_id}"))["offset"])


def _open_put(server: Server, upload_id: str, data: bytes, start: int) -> socket.socket:
    """Start a PUT of data[start:] and return the socket, headers sent."""
    port = int(server.base.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    n = len(data)
    sock.sendall(
        (
            f"PUT /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {server.token}\r\n{OCTETS}\r\n"
            f"Content-Range: bytes {start}-{n - 1}/{n}\r\nContent-Length: {n - start}\r\n\r\n"
        ).encode()
    )
    return sock


def _wait_offset(server: Server, upload_id: str, want: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (got := _offset(server, upload_id)) != want:
        assert time.monotonic() < deadline, f"offset stays at {got}, expected {want}"
        time.sleep(0.1)


def _finish(server: Server, upload_id: str, path: Path, start: int) -> dict[str, Any]:
    rest = path.parent / "rest.bin"
    data = path.read_bytes()
    rest.write_bytes(data[start:])
    n = len(data)
    result = curl(*server.auth, "-T", str(rest), "-H", OCTETS,
                  "-H", f"Content-Range: bytes {start}-{n - 1}/{n}",
                  f"{server.base}/api/v1/uploads/{upload_id}")  # fmt: skip
    return dict(_json(result))


@needs_mksquashfs
def test_an_upload_cut_off_at_random_offsets_by_the_client_resumes_to_completion(
    tmp_path: Path, squashfs: Path
) -> None:
    data = squashfs.read_bytes()
    rng = random.Random(20261126)
    with serve(tmp_path) as server:
        upload_id = _start(server, squashfs)["id"]
        offset = 0
        for _ in range(3):
            cut = rng.randrange(1, (len(data) - offset) // 2)
            sock = _open_put(server, upload_id, data, offset)
            sock.sendall(data[offset : offset + cut])
            sock.close()  # the client goes away mid-body
            offset += cut
            _wait_offset(server, upload_id, offset)
            assert server.media() == [], "a partial file became visible"
        done = _finish(server, upload_id, squashfs, offset)
        assert done["complete"] is True
        assert done["release"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert server.media() == RELEASE_FILES
        got = curl(done["release"]["url"]).stdout
    assert got == data


@needs_mksquashfs
def test_an_upload_survives_a_killed_server_and_resumes_after_restart(
    tmp_path: Path, squashfs: Path
) -> None:
    data = squashfs.read_bytes()
    with serve(tmp_path, "first") as server:
        upload_id = _start(server, squashfs)["id"]
        sock = _open_put(server, upload_id, data, 0)
        sent = len(data) // 3
        sock.sendall(data[:sent])
        deadline = time.monotonic() + 30
        while (written := _offset(server, upload_id)) < 1 << 20:  # the server writes 1 MiB blocks
            assert time.monotonic() < deadline, f"only {written} bytes written"
            time.sleep(0.1)
        kill_hard(server.proc)  # SIGKILL master and worker mid-request, the body still coming
        sock.close()
        token = server.token
        assert server.media() == []
    with serve(tmp_path, "second", token=token) as again:
        offset = _offset(again, upload_id)
        assert written <= offset <= sent
        assert (again.data_dir / "media" / ".uploads" / f"{upload_id}.part").read_bytes() == (
            data[:offset]
        )
        done = _finish(again, upload_id, squashfs, offset)
        assert done["release"]["size"] == len(data)
        assert again.media() == RELEASE_FILES
        assert curl(done["release"]["url"]).stdout == data


@needs_mksquashfs
def test_a_checksum_mismatch_over_http_stores_nothing(tmp_path: Path, squashfs: Path) -> None:
    with serve(tmp_path) as server:
        result = curl(*server.auth, "-T", str(squashfs), "-H", OCTETS, "-w", "%{http_code}",
                      f"{server.base}/api/v1/images?name=a&version=1&sha256={'0' * 64}",
                      "-X", "POST")  # fmt: skip
        assert result.stdout.endswith(b"422")
        assert b'"field":"sha256"' in result.stdout
        assert server.media() == []
        assert list((server.data_dir / "media" / ".uploads").iterdir()) == []


@needs_mksquashfs
def test_a_full_disk_is_a_507_naming_the_cause_and_leaves_nothing_behind(
    tmp_path: Path, squashfs: Path
) -> None:
    """The data directory is a 24 MiB tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) missing")
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot create a mount namespace here")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    mount = 'mount -t tmpfs -o size=24m tmpfs "$PROVISIONER_DATA_DIR" && exec "$@"'
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh"]
    db = f"sqlite:///{tmp_path / 'db' / 'provisioner.db'}"
    with serve(tmp_path, wrapper=wrapper, database_url=db) as server:
        big = random_file(tmp_path / "big.bin", 40 << 20)
        url = f"{server.base}/api/v1/images?name=big&version=1"
        declared = curl(*server.auth, "-T", str(big), "-H", OCTETS, "-X", "POST", url)
        error = _json(declared)["error"]
        assert error["code"] == "insufficient_storage"
        assert "not enough free disk" in error["message"]
        with big.open("rb") as stdin:
            chunked = subprocess.run(
                ["curl", "-sS", *server.auth, "-T", "-", "-H", OCTETS, "-X", "POST", url],
                stdin=stdin, capture_output=True, timeout=120, check=False,
            )  # fmt: skip
        error = _json(chunked)["error"]
        assert error["code"] == "insufficient_storage"
        assert "disk is full" in error["message"]
        uploads = curl(*server.auth, f"{server.base}/api/v1/uploads")
        assert _json(uploads) == []
        # the space came back: the part file was removed
        ok = curl(*server.auth, "-T", str(squashfs), "-H", OCTETS, "-X", "POST",
                  f"{server.base}/api/v1/images?name=avbox&version=2.0")  # fmt: skip
        assert _json(ok)["size"] == squashfs.stat().st_size


@needs_mksquashfs
def test_the_cli_uploads_over_http_and_resumes_what_an_earlier_attempt_left(
    tmp_path: Path, squashfs: Path
) -> None:
    data = squashfs.read_bytes()
    with serve(tmp_path) as server:
        upload_id = _start(server, squashfs)["id"]  # an earlier attempt ...
        sock = _open_put(server, upload_id, data, 0)
        sock.sendall(data[:1_500_000])
        sock.close()  # ... that broke off
        _wait_offset(server, upload_id, 1_500_000)
        token_file = tmp_path / "token"
        token_file.write_text(server.token)
        result = subprocess.run(
            [str(BIN / "provisioner"), "image", "add", str(squashfs), "--name", "avbox",
             "--version", "2.0", "--server", server.base, "--token-file", str(token_file)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "resuming the upload at byte 1500000" in result.stderr
        assert "release avbox:2.0 added" in result.stdout
        assert server.media() == RELEASE_FILES
    assert f"PUT /api/v1/uploads/{upload_id}" in server.log.read_text()
