"""``provisioner serve`` with its network-boot process: DHCP, TFTP and DNS beside
HTTP, real clients in a namespace, clean start-up errors and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support import netns
from tests.support.proc import free_tcp_port
from tests.support.release import add_release_to

BIN = Path(sys.executable).parent
MAC = "52:54:00:c0:02:33"


def _serve(args: list[str], data: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVISIONER_DATA_DIR": str(data)}
    return subprocess.run(
        [str(BIN / "provisioner"), "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dhcp_is_refused_without_an_interface(tmp_path: Path) -> None:
    out = _serve(["--http", f"127.0.0.1:{free_tcp_port()}", "--dhcp", "full"], tmp_path)
    assert out.returncode == 2
    assert "needs --interface" in out.stderr


def test_an_unknown_interface_is_a_clear_error(tmp_path: Path) -> None:
    out = _serve(
        ["--http", f"127.0.0.1:{free_tcp_port()}", "--dhcp", "proxy", "--interface", "nosuch0"],
        tmp_path,
    )
    assert out.returncode == 2
    assert "no interface named 'nosuch0'" in out.stderr


def test_a_port_in_use_stops_the_start_before_http_listens(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        http = free_tcp_port()
        out = _serve(["--http", f"127.0.0.1:{http}", "--tftp", f"127.0.0.1:{port}"], tmp_path)
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Listening at" not in out.stderr  # gunicorn never started


def test_serve_answers_dhcp_tftp_dns_and_http_then_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    netns.require()
    netns.need_commands("busybox", "dig", "curl")
    data = tmp_path / "data"
    env = {**os.environ, "PROVISIONER_DATA_DIR": str(data)}
    release = add_release_to(data)  # the node installs (preflight wants a release)
    subprocess.run(
        [
            str(BIN / "provisioner"),
            "node",
            "set",
            MAC,
            "--release",
            release,
            "--hostname",
            "box33",
            "--options",
            "ip.192.0.2.33 submask.255.255.255.0",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with netns.lab(tmp_path) as lab:
        client = lab.add_client("c0")
        client.ip("link", "set", "c0", "address", MAC)
        log = tmp_path / "serve.log"
        server = lab.start(
            [
                str(BIN / "provisioner"),
                "serve",
                "--http",
                "192.0.2.1:8080",
                "--tftp",
                "192.0.2.1:69",
                "--dns",
                "192.0.2.1:53",
                "--dhcp",
                "full",
                "--interface",
                "br0",
            ],
            log,
            env={**env, "PROVISIONER_DHCP_POOL": "192.0.2.100-192.0.2.199"},
        )
        lab.wait_tcp(8080, timeout=60, proc=server, log=log)
        lab.wait_udp(67, timeout=30, proc=server, log=log)
        # DHCP: a PXE client (BIOS) gets its reservation and pxelinux.0 from us
        hook = netns.udhcpc_hook(tmp_path / "hook.sh", tmp_path / "lease.env")
        got = client.run(
            "busybox",
            "udhcpc",
            "-i",
            "c0",
            "-n",
            "-q",
            "-t",
            "5",
            "-T",
            "2",
            "-V",
            "PXEClient:Arch:00000:UNDI:002001",
            "-s",
            str(hook),
            timeout=30,
        )
        assert got.returncode == 0, got.stderr + log.read_text()[-2000:]
        lease = (tmp_path / "lease.env").read_text()
        assert "ip=192.0.2.33" in lease
        assert "boot_file=pxelinux.0" in lease
        # TFTP: the per-MAC file carries the server and the build token
        tftp = client.run(
            "curl", "-sS", "--max-time", "10", "tftp://192.0.2.1/pxelinux.cfg/01-52-54-00-c0-02-33"
        )
        assert "server.http://192.0.2.1:8080 token." in tftp.stdout, tftp.stderr
        # DNS: the node's name
        dig = client.run("dig", "+short", "+time=2", "+tries=2", "@192.0.2.1", "box33.lan", "A")
        assert dig.stdout.strip() == "192.0.2.33"
        # HTTP: the iPXE script for the same node
        ipxe = client.run(
            "curl", "-sS", "--max-time", "10", f"http://192.0.2.1:8080/boot/ipxe?mac={MAC}"
        )
        assert ipxe.stdout.startswith("#!ipxe\n")

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log.read_text()[-3000:]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and lab.server.run("ss", "-Hlun").stdout.strip():
            time.sleep(0.2)
        assert lab.server.run("ss", "-Hlun").stdout.strip() == ""  # DHCP, TFTP, DNS gone
        assert lab.server.run("ss", "-Hltn").stdout.strip() == ""  # HTTP and DNS/TCP gone
    text = log.read_text()
    assert "DHCP OFFER 52:54:00:c0:02:33 192.0.2.33 file pxelinux.0" in text
    assert "TFTP RRQ pxelinux.cfg/01-52-54-00-c0-02-33" in text


ARM64_MAC = "52:54:00:c0:02:34"


def test_an_arm64_client_gets_an_arm64_loader_that_tftp_and_http_serve(tmp_path: Path) -> None:
    """DHCP and the boot tree share one loader catalogue: what an arm64 client is
    offered (option 93 = 11, or 19 for HTTP boot) is exactly what TFTP and HTTP serve
    from ``loaders_dir/arm64/`` (Debian 12 amd64 ships no arm64 iPXE)."""
    netns.require()
    netns.need_commands("busybox", "curl")
    data = tmp_path / "data"
    loaders = tmp_path / "loaders"
    (loaders / "arm64").mkdir(parents=True)
    snponly, ipxe = os.urandom(70_000), os.urandom(90_000)
    (loaders / "arm64" / "snponly.efi").write_bytes(snponly)
    (loaders / "arm64" / "ipxe.efi").write_bytes(ipxe)
    env = {**os.environ, "PROVISIONER_DATA_DIR": str(data)}
    subprocess.run(
        [str(BIN / "provisioner"), "node", "set", ARM64_MAC, "--action", "local"],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with netns.lab(tmp_path) as lab:
        client = lab.add_client("c0")
        client.ip("link", "set", "c0", "address", ARM64_MAC)
        log = tmp_path / "serve.log"
        server = lab.start(
            [str(BIN / "provisioner"), "serve", "--http", "192.0.2.1:8080",
             "--tftp", "192.0.2.1:69", "--dhcp", "full", "--interface", "br0"],
            log,
            env={**env, "PROVISIONER_DHCP_POOL": "192.0.2.100-192.0.2.199",
                 "PROVISIONER_LOADERS_DIR": str(loaders)},
        )  # fmt: skip
        lab.wait_tcp(8080, timeout=60, proc=server, log=log)
        lab.wait_udp(67, timeout=30, proc=server, log=log)
        leases = {}
        for arch, klass in ((11, "PXEClient"), (19, "HTTPClient")):
            hook = netns.udhcpc_hook(tmp_path / f"hook{arch}.sh", tmp_path / f"lease{arch}.env")
            got = client.run(
                "busybox", "udhcpc", "-i", "c0", "-n", "-q", "-t", "5", "-T", "2",
                "-V", f"{klass}:Arch:{arch:05d}:UNDI:003016", "-x", f"0x5d:{arch:04x}",
                "-s", str(hook), timeout=30,
            )  # fmt: skip
            assert got.returncode == 0, got.stderr + log.read_text()[-2000:]
            lease = (tmp_path / f"lease{arch}.env").read_text().splitlines()
            leases[arch] = dict(line.split("=", 1) for line in lease if "=" in line)
        boot_file = leases[11]["boot_file"]
        assert boot_file == "arm64/snponly.efi"
        assert leases[19]["boot_file"] == "http://192.0.2.1:8080/boot/files/arm64/ipxe.efi"
        fetches = {
            f"tftp://192.0.2.1/{boot_file}": snponly,  # exactly the name DHCP gave
            f"http://192.0.2.1:8080/boot/files/{boot_file}": snponly,
            leases[19]["boot_file"]: ipxe,
        }
        for url, expected in fetches.items():
            out = tmp_path / "out.efi"
            got = client.run("curl", "-sS", "--fail", "--max-time", "20", "-o", str(out), url)
            assert got.returncode == 0, (url, got.stderr)
            assert out.read_bytes() == expected, url
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert f"DHCP ACK {ARM64_MAC} 192.0.2.100 file arm64/snponly.efi" in text
    assert "TFTP RRQ arm64/snponly.efi" in text
