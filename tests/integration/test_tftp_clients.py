"""Stock TFTP clients against ``python -m tftp`` in a network namespace.

curl (blksize 512 and 1468), tftp-hpa (512 only), atftp (windowsize), busybox
and tftpy's client fetch loaders, generated per-MAC files and data files from
192.0.2.1; every file must arrive byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.bootnames import base_url
from provisioner.config import load_settings
from provisioner.db import open_store
from provisioner.service import Service
from tests.support import netns
from tests.support.release import add_release

pytestmark = pytest.mark.netns
SERVER = netns.SERVER_IP
MAC = "52:54:00:c0:02:01"
PXE = Path("/usr/lib/PXELINUX/pxelinux.0")
EFI = Path("/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi")
ROOT = Path(__file__).resolve().parents[2]
ROLLOVER = 65_600 * 512 + 100  # more than 65,535 blocks of 512 bytes: block numbers wrap

CLIENTS: dict[str, list[str]] = {
    "curl-512": ["curl", "-sS", "--max-time", "120", "--tftp-blksize", "512", "-o", "{out}",
                 f"tftp://{SERVER}/" + "{name}"],
    "curl-1468": ["curl", "-sS", "--max-time", "120", "--tftp-blksize", "1468", "-o", "{out}",
                  f"tftp://{SERVER}/" + "{name}"],
    "tftp-hpa": ["tftp", "-m", "binary", SERVER, "-c", "get", "{name}", "{out}"],
    "atftp-window": ["atftp", "--option", "blksize 1468", "--option", "windowsize 8",
                     "-g", "-r", "{name}", "-l", "{out}", SERVER],
    "busybox": ["busybox", "tftp", "-g", "-b", "1468", "-r", "{name}", "-l", "{out}", SERVER],
    "tftpy": [sys.executable, "-c",
              "import sys, tftpy; tftpy.TftpClient(sys.argv[1], 69, {'blksize': 1468})"
              ".download(sys.argv[2], sys.argv[3])", SERVER, "{name}", "{out}"],
}  # fmt: skip


def argv(cmd: list[str], name: str, out: Path) -> list[str]:
    return [a.replace("{name}", name).replace("{out}", str(out)) for a in cmd]


@dataclass
class Env:
    lab: netns.Lab
    client: netns.Netns
    data: Path
    work: Path
    pxelinux_cfg: str
    log: Path

    def fetch(self, client: str, name: str, out: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return self.client.run(*argv(CLIENTS[client], name, out), timeout=180, env=env)


def _need_clients() -> None:
    netns.need_commands("curl", "tftp", "atftp", "busybox")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    netns.require()
    _need_clients()
    work = tmp_path_factory.mktemp("tftp-clients")
    data = work / "data"
    boot = data / "boot"
    boot.mkdir(parents=True)
    for size in (0, 511, 512, 513):
        (boot / f"f{size}").write_bytes(os.urandom(size))
    (boot / "two-mb").write_bytes(os.urandom(2 * 1024 * 1024))
    (work / "secret").write_text("outside the root\n")
    (boot / "escape").symlink_to(work / "secret")
    settings = load_settings({}, overrides={"data_dir": str(data)})
    store = open_store(settings)
    try:
        service = Service(store, settings)
        node = {"hostname": "box1", "options": "auto ip.192.0.2.50 lang.de"}
        service.save_node(MAC, {**node, "release": add_release(store)})
        # the file names the address the request arrives on, with the HTTP port
        url = base_url(SERVER, settings.http_host_port[1])
        text = service.pxelinux_file("01-52-54-00-c0-02-01", url)
    finally:
        store.close()
    assert text is not None
    with netns.lab(work) as lab:
        client = lab.add_client("c0", "192.0.2.2/24")
        log = work / "tftp.log"
        proc = lab.start(
            [sys.executable, "-m", "tftp", "--listen", f"{SERVER}:69", "--data-dir", str(data)],
            log,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        lab.wait_udp(69, proc=proc, log=log)
        yield Env(lab, client, data, work, text, log)


def _same(out: Path, expected: bytes, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    got = out.read_bytes()
    assert len(got) == len(expected)
    assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest()


@pytest.mark.parametrize("client", list(CLIENTS))
def test_loaders_and_the_per_mac_file_arrive_byte_identical(env: Env, client: str) -> None:
    wanted = {"pxelinux.cfg/01-52-54-00-c0-02-01": env.pxelinux_cfg.encode()}
    for path in (PXE, EFI):
        if path.exists():
            wanted["pxelinux.0" if path == PXE else "efi64/syslinux.efi"] = path.read_bytes()
    for name, expected in wanted.items():
        out = env.work / f"{client}-{name.replace('/', '_')}"
        _same(out, expected, env.fetch(client, name, out))


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("size", [0, 511, 512, 513])
def test_files_around_the_block_size_arrive_whole(env: Env, client: str, size: int) -> None:
    if size == 0 and client.startswith("curl"):
        pytest.skip("curl 7.88 fails on empty TFTP files with any server (tftpd-hpa too)")
    out = env.work / f"{client}-f{size}"
    _same(out, (env.data / "boot" / f"f{size}").read_bytes(), env.fetch(client, f"f{size}", out))


@pytest.mark.parametrize("client", ["curl-512", "tftp-hpa", "busybox", "atftp-window"])
def test_files_past_65535_blocks_roll_the_block_number_over(env: Env, client: str) -> None:
    big = env.data / "boot" / "rollover.bin"
    if not big.exists():
        big.write_bytes(os.urandom(ROLLOVER))
    # 512-byte blocks, so that the block number wraps
    cmd = [a.replace("blksize 1468", "blksize 512").replace("1468", "512") for a in CLIENTS[client]]
    result = env.client.run(*argv(cmd, "rollover.bin", env.work / "rollover.out"), timeout=300)
    _same(env.work / "rollover.out", big.read_bytes(), result)
    (env.work / "rollover.out").unlink()


def test_several_clients_at_once_all_get_the_whole_file(env: Env) -> None:
    expected = (env.data / "boot" / "two-mb").read_bytes()
    procs = []
    for i, client in enumerate(["curl-512", "curl-1468", "tftp-hpa", "atftp-window", "busybox"]):
        out = env.work / f"concurrent-{i}"
        procs.append((out, subprocess.Popen(env.client.cmd(*argv(CLIENTS[client], "two-mb", out)))))
    deadline = time.monotonic() + 120
    for out, proc in procs:
        proc.wait(timeout=max(1, deadline - time.monotonic()))
        assert proc.returncode == 0
        assert out.read_bytes() == expected


def test_hostile_packets_get_errors_and_the_next_client_is_served(env: Env) -> None:
    result = env.client.run(
        sys.executable, "-m", "tests.support.tftp_probe", SERVER,
        timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "truncated": 4,
        "bad_opcode": 4,
        "bad_option": 8,
        "traversal": 2,
        "absolute": 2,
        "non_utf8": 2,
        "symlink_escape": 2,
        "write": 2,
    }
    assert not (env.data / "boot" / "upload.bin").exists()
    out = env.work / "after-probes"
    _same(out, (env.data / "boot" / "f513").read_bytes(), env.fetch("curl-1468", "f513", out))


def test_the_log_has_one_line_per_request_and_one_per_completed_transfer(env: Env) -> None:
    out = env.work / "logged"
    env.fetch("busybox", "pxelinux.cfg/01-52-54-00-c0-02-01", out)
    lines = env.log.read_text().splitlines()
    assert any(
        "TFTP RRQ pxelinux.cfg/01-52-54-00-c0-02-01 from 192.0.2.2 blksize 1468" in line
        and f"mac {MAC}" in line
        for line in lines
    )
    assert any(
        "TFTP sent pxelinux.cfg/01-52-54-00-c0-02-01 to 192.0.2.2" in line and "bytes in" in line
        for line in lines
    )
