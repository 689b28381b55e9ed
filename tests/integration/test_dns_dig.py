"""``dig`` against ``python -m provisioner.dns`` in a network namespace.

Server A (port 53) answers from the database and refuses the rest; server B
(port 5353) forwards to a hostile upstream (tests/support/dns_upstream.py) in a
third namespace that forges replies from a wrong port and with a wrong ID.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.config import Settings, load_settings
from provisioner.db import open_store
from provisioner.service import Service
from tests.support import netns
from tests.support.release import RELEASE, add_release

pytestmark = pytest.mark.netns
SERVER = netns.SERVER_IP
ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = "192.0.2.3"


@dataclass
class Dig:
    status: str
    flags: list[str]
    answers: list[str]


@dataclass
class Env:
    client: netns.Netns
    settings: Settings
    logs: Path

    def dig(self, *args: str, port: int = 53) -> Dig:
        out = self.client.run(
            "dig", "+time=3", "+tries=1", f"@{SERVER}", "-p", str(port), *args, timeout=30
        ).stdout
        status, flags, answers = "", [], []
        section = ""
        for line in out.splitlines():
            if "status:" in line:
                status = line.split("status:")[1].split(",")[0].strip()
            elif line.startswith(";; flags:"):
                flags = line.split(":")[1].split(";")[0].split()
            elif line.startswith(";; ") and "SECTION" in line:
                section = line
            elif line and not line.startswith(";") and "ANSWER" in section:
                answers.append(" ".join(line.split()[3:]))
        return Dig(status, flags, answers)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    netns.require()
    netns.need_commands("dig")
    work = tmp_path_factory.mktemp("dns")
    settings = load_settings({}, overrides={"data_dir": str(work / "data")})
    (work / "data").mkdir()
    store = open_store(settings)
    try:
        service = Service(store, settings)
        service.save_node(
            "52:54:00:c0:02:01",
            {"hostname": "box1", "options": "ip.192.0.2.50", "release": add_release(store)},
        )
    finally:
        store.close()
    pyenv = {**os.environ, "PYTHONPATH": str(ROOT)}
    dns = [sys.executable, "-m", "provisioner.dns", "--domain", "lab.test"]
    with netns.lab(work) as lab:
        client = lab.add_client("c0", "192.0.2.2/24")
        up = lab.add_client("u0", f"{UPSTREAM}/24")
        lab.start(
            [sys.executable, "-m", "tests.support.dns_upstream", UPSTREAM, "53"],
            work / "upstream.log",
            ns=up,
            env=pyenv,
        )
        a = lab.start(
            [*dns, "--listen", f"{SERVER}:53", "--data-dir", str(work / "data"),
             "--server-ip", SERVER],
            work / "dns-a.log",
            env=pyenv,
        )  # fmt: skip
        b = lab.start(
            [*dns, "--listen", f"{SERVER}:5353", "--upstream", f"{UPSTREAM}:53",
             "--record", "box9=192.0.2.9"],
            work / "dns-b.log",
            env=pyenv,
        )  # fmt: skip
        lab.wait_udp(53, proc=a, log=work / "dns-a.log")
        lab.wait_udp(5353, proc=b, log=work / "dns-b.log")
        yield Env(client, settings, work)


def test_a_record_of_a_node_comes_from_its_ip_option(env: Env) -> None:
    got = env.dig("box1.lab.test", "A")
    assert (got.status, got.answers) == ("NOERROR", ["A 192.0.2.50"])
    assert "aa" in got.flags


def test_ptr_of_a_node_address(env: Env) -> None:
    got = env.dig("-x", "192.0.2.50")
    assert (got.status, got.answers) == ("NOERROR", ["PTR box1.lab.test."])


def test_unknown_names_in_the_zone_are_nxdomain(env: Env) -> None:
    assert env.dig("nobody.lab.test", "A").status == "NXDOMAIN"


def test_names_outside_the_zone_are_refused_without_an_upstream(env: Env) -> None:
    got = env.dig("www.example.test", "A")
    assert (got.status, got.answers) == ("REFUSED", [])
    assert "ra" not in got.flags


def test_tcp_queries_are_answered_too(env: Env) -> None:
    got = env.dig("+tcp", "box1.lab.test", "A")
    assert got.answers == ["A 192.0.2.50"]


def test_a_node_added_while_running_is_answered_within_seconds(env: Env) -> None:
    store = open_store(env.settings)
    try:
        Service(store, env.settings).save_node(
            "52:54:00:c0:02:02",
            {"hostname": "box2", "options": "ip.192.0.2.51", "release": RELEASE},
        )
    finally:
        store.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if env.dig("box2.lab.test", "A").answers == ["A 192.0.2.51"]:
            return
        time.sleep(0.5)
    raise AssertionError("box2 never appeared")


def test_garbage_does_not_stop_the_daemon(env: Env) -> None:
    code = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"[s.sendto(b, ('{SERVER}', 53)) for b in "
        "(b'', b'x', b'\\xff' * 12, b'\\x00\\x01\\x01\\x00\\x00\\x01' + b'\\x00' * 6 + b'\\x3f')]"
    )
    assert env.client.run(sys.executable, "-c", code, timeout=30).returncode == 0
    assert env.dig("box1.lab.test", "A").answers == ["A 192.0.2.50"]


def test_forwarding_returns_the_real_reply_and_ignores_forged_ones(env: Env) -> None:
    got = env.dig("www.example.test", "A", port=5353)
    assert (got.status, got.answers) == ("NOERROR", ["A 203.0.113.7"])
    assert env.dig("box9.lab.test", "A", port=5353).answers == ["A 192.0.2.9"]
    assert "did not match" in (env.logs / "dns-b.log").read_text()


def test_a_silent_upstream_gives_servfail_in_time(env: Env) -> None:
    started = time.monotonic()
    got = env.dig("silent.example.test", "A", port=5353)
    assert got.status == "SERVFAIL"
    assert time.monotonic() - started < 3.0 + 2  # upstream timeout 2 s, dig waits 3 s
