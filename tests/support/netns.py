"""Private networks for tests: network namespaces, a bridge, veth pairs and taps.

Safety rules (DEVELOPERS.md, "Network safety"):

* every address is in 192.0.2.0/24 (TEST-NET-1) and lives only inside namespaces
  this module creates; nothing is added to the host's own namespace;
* processes are stopped only by the PIDs recorded here;
* namespaces are named ``prov-<owner pid>-<n>``; :func:`gc_stale` removes those
  whose owner process is gone (a test run that was SIGKILLed).

Topology of a :class:`Lab`::

    netns prov-<pid>-<n>   br0 192.0.2.1/24  (the server side)
      ├─ v-<name> ── veth ── netns prov-<pid>-<n>-<name>   <name> (a client)
      └─ tapN                 (QEMU VMs, opened by name inside the namespace)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVER_IP = "192.0.2.1"
PREFIX = 24
_seq = itertools.count()


def why_not() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) not installed"
    return None


def require() -> None:
    """Skip (or fail under PROVISIONER_TEST_REQUIRE_NETNS=1) when impossible."""
    reason = why_not()
    if reason is None:
        return
    if os.environ.get("PROVISIONER_TEST_REQUIRE_NETNS") == "1":
        pytest.fail(f"network namespace tests required but impossible: {reason}")
    pytest.skip(reason)


def need_commands(*cmds: str) -> None:
    missing = [c for c in cmds if shutil.which(c) is None]
    if missing:
        if os.environ.get("PROVISIONER_TEST_REQUIRE_NETNS") == "1":
            pytest.fail(f"missing commands: {' '.join(missing)}")
        pytest.skip(f"missing commands: {' '.join(missing)}")


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=check)


def gc_stale() -> None:
    """Delete ``prov-<pid>-*`` namespaces whose owner pid is dead."""
    out = _run("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "prov" or not parts[1].isdigit():
            continue
        owner = int(parts[1])
        if _alive(owner):
            continue
        for pid in _run("ip", "netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run("ip", "netns", "del", name, check=False)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class Netns:
    name: str

    def cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(
        self,
        *argv: str,
        timeout: float = 60,
        check: bool = False,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.cmd(*argv), capture_output=True, text=True, timeout=timeout, check=check, env=env
        )

    def ip(self, *argv: str) -> None:
        _run("ip", "-n", self.name, *argv)


@dataclass
class Lab:
    """A server namespace with ``br0`` = 192.0.2.1/24, plus clients and taps."""

    server: Netns
    workdir: Path
    clients: dict[str, Netns] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _extra: list[str] = field(default_factory=list)

    def add_client(self, name: str, address: str | None = None) -> Netns:
        """A client namespace joined to br0 by a veth pair; its end is called ``name``.
        ``address`` (e.g. ``192.0.2.2/24``) is optional: DHCP clients start without."""
        ns = Netns(f"{self.server.name}-{name}")
        _run("ip", "netns", "add", ns.name)
        self._extra.append(ns.name)
        ns.ip("link", "set", "lo", "up")
        self.server.ip(
            "link", "add", f"v-{name}", "type", "veth", "peer", "name", name, "netns", ns.name
        )
        self.server.ip("link", "set", f"v-{name}", "master", "br0", "up")
        ns.ip("link", "set", name, "up")
        if address:
            ns.ip("addr", "add", address, "dev", name)
        self.clients[name] = ns
        return ns

    def add_behind(self, gateway: Netns, name: str, gateway_address: str) -> Netns:
        """A client namespace on a link of its own to ``gateway`` (a relay's
        namespace): its end is called ``name``, the gateway's ``g-<name>`` with
        ``gateway_address`` (e.g. ``192.0.2.65/26``)."""
        ns = Netns(f"{self.server.name}-{name}")
        _run("ip", "netns", "add", ns.name)
        self._extra.append(ns.name)
        ns.ip("link", "set", "lo", "up")
        near = f"g-{name}"
        gateway.ip("link", "add", near, "type", "veth", "peer", "name", name, "netns", ns.name)
        gateway.ip("addr", "add", gateway_address, "dev", near)
        gateway.ip("link", "set", near, "up")
        ns.ip("link", "set", name, "up")
        self.clients[name] = ns
        return ns

    def add_tap(self, name: str) -> str:
        self.server.ip("tuntap", "add", "dev", name, "mode", "tap")
        self.server.ip("link", "set", name, "master", "br0", "up")
        return name

    def start(
        self,
        argv: Sequence[str],
        log: Path,
        ns: Netns | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``ns`` (default: the server side); stopped on exit."""
        target = ns or self.server
        with log.open("ab") as out:
            proc = subprocess.Popen(
                target.cmd(*argv), stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return proc.returncode

    def wait_udp(
        self,
        port: int,
        timeout: float = 15,
        proc: subprocess.Popen[bytes] | None = None,
        log: Path | None = None,
    ) -> None:
        """Wait until something in the server namespace binds UDP ``port``."""
        self._wait(["ss", "-Hlun", f"sport = :{port}"], port, timeout, proc, log)

    def wait_tcp(
        self,
        port: int,
        timeout: float = 15,
        proc: subprocess.Popen[bytes] | None = None,
        log: Path | None = None,
    ) -> None:
        self._wait(["ss", "-Hltn", f"sport = :{port}"], port, timeout, proc, log)

    def _wait(
        self,
        argv: list[str],
        port: int,
        timeout: float,
        proc: subprocess.Popen[bytes] | None,
        log: Path | None,
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:] if log else ""
                raise AssertionError(f"server exited with {proc.returncode}:\n{tail}")
            if self.server.run(*argv, timeout=10).stdout.strip():
                return
            time.sleep(0.1)
        raise AssertionError(f"port {port} not bound after {timeout}s")

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        for name in reversed(self._extra):
            _run("ip", "netns", "del", name, check=False)
        _run("ip", "netns", "del", self.server.name, check=False)


@contextlib.contextmanager
def lab(workdir: Path) -> Iterator[Lab]:
    """Create a lab; everything it made is removed on exit, also on failure."""
    require()
    gc_stale()
    server = Netns(f"prov-{os.getpid()}-{next(_seq)}")
    _run("ip", "netns", "add", server.name)
    the_lab = Lab(server=server, workdir=workdir)
    try:
        server.ip("link", "set", "lo", "up")
        server.ip("link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        server.ip("addr", "add", f"{SERVER_IP}/{PREFIX}", "dev", "br0")
        server.ip("link", "set", "br0", "up")
        yield the_lab
    finally:
        the_lab.close()


def udhcpc_hook(path: Path, out: Path) -> Path:
    """A busybox udhcpc hook that only touches the client's interface and writes the
    lease it got to ``out`` (``ip netns exec`` shares /etc: never use the default hook)."""
    path.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  deconfig) ip addr flush dev "$interface" ;;\n'
        '  bound|renew) ip addr add "$ip/${mask:-24}" dev "$interface"\n'
        f'    env | grep -E "^(ip|mask|router|dns|serverid|siaddr|boot_file|sname|subnet|lease|'
        f'hostname|domain|opt[0-9]+)=" | sort > {out} ;;\n'
        "esac\n"
    )
    path.chmod(0o755)
    return path


def dhclient_hook(path: Path, out: Path) -> Path:
    """A dhclient-script replacement writing the lease's variables to ``out``."""
    path.write_text(
        "#!/bin/sh\n"
        'case "$reason" in\n'
        '  BOUND|RENEW|REBOOT) ip addr add "$new_ip_address/24" dev "$interface"\n'
        f"    env | grep -E '^new_' | sort > {out} ;;\n"
        "esac\n"
        "exit 0\n"
    )
    path.chmod(0o755)
    return path
