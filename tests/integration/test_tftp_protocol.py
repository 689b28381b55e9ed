"""The TFTP server's protocol behaviour over 127.0.0.1, driven packet by packet.

Stock clients (curl, tftp-hpa, atftp, busybox) are in test_tftp_clients.py;
here a raw client does what they never do on purpose.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from provisioner.bootnames import base_url
from provisioner.service import Service
from tests.support.release import add_release
from tests.support.tftp import RawClient, serving, settings_for
from tftp.packet import Ack, Data, Error, ErrorCode, Opcode, OptionAck, Request
from tftp.session import Retry


@pytest.fixture
def boot(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "boot"
    root.mkdir(parents=True)
    for size in (0, 511, 512, 513, 3000):
        (root / f"f{size}").write_bytes(os.urandom(size))
    return root


def wait_until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("size", [0, 511, 512, 513, 3000])
def test_files_of_edge_sizes_arrive_whole(tmp_path: Path, boot: Path, size: int) -> None:
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        assert c.fetch(f"f{size}") == (boot / f"f{size}").read_bytes()


def test_options_are_negotiated_and_tsize_tells_the_size(tmp_path: Path, boot: Path) -> None:
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        oack = c.request("f3000", tsize="0", blksize="9000", windowsize="4", timeout="2")
        assert oack == OptionAck(
            {"tsize": "3000", "blksize": "1468", "windowsize": "4", "timeout": "2"}
        )
        c.peer = None
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        data = c.fetch("f3000", blksize="1000", windowsize="2")
        assert data == (boot / "f3000").read_bytes()


def test_block_numbers_roll_over_past_65535(tmp_path: Path, boot: Path) -> None:
    content = os.urandom(8 * 65536 + 100)  # 65,549 blocks of 8 bytes
    (boot / "big").write_bytes(content)
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        assert c.fetch("big", blksize="8", windowsize="64") == content


def test_a_generated_per_mac_file_is_served_from_memory(
    tmp_path: Path, boot: Path, service: Service
) -> None:
    node = {"options": "ip.192.0.2.50 lang.de", "release": add_release(service.store)}
    service.save_node("52:54:00:c0:02:01", node)
    settings = settings_for(tmp_path)
    # no server IP set: the file names the address the request arrived on (HTTP port)
    url = base_url("127.0.0.1", settings.http_host_port[1])
    expected = service.pxelinux_file("01-52-54-00-c0-02-01", url)
    assert expected is not None
    assert f" server.{url} " in expected
    with serving(settings, service) as server:
        for prefix in ("", "efi64/"):
            name = f"{prefix}pxelinux.cfg/01-52-54-00-c0-02-01"
            with RawClient(server.address) as c:
                assert c.fetch(name).decode() == expected
        with RawClient(server.address) as c:  # unknown box: pxelinux goes down its chain
            assert c.request("pxelinux.cfg/01-52-54-00-c0-02-99") == Error(1, "file not found")


def test_netascii_requests_get_cr_lf_line_ends(tmp_path: Path, boot: Path) -> None:
    (boot / "text").write_bytes(b"a\nb\n")
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        c.send(Request(Opcode.RRQ, "text", "netascii"))
        pkt, _ = c.recv()
        assert pkt == Data(1, b"a\r\nb\r\n")


def test_duplicate_acks_do_not_trigger_resends(tmp_path: Path, boot: Path) -> None:
    """The sorcerer's apprentice bug: a duplicated ACK must not double the data."""
    retry = Retry(attempts=3, max_wait=1.0)
    with serving(settings_for(tmp_path), retry=retry) as server, RawClient(server.address) as c:
        first = c.request("f3000", timeout="1")
        assert isinstance(first, OptionAck)
        c.send(Ack(0))
        pkt, _ = c.recv()
        assert pkt == Data(1, (boot / "f3000").read_bytes()[:512])
        c.send(Ack(1))
        c.send(Ack(1))  # duplicate
        c.send(Ack(0))  # stale
        pkt, _ = c.recv()
        assert isinstance(pkt, Data)
        assert pkt.block == 2
        assert c.recv_or_none(0.5) is None  # no second DATA 2 before the timeout


def test_a_lost_ack_makes_the_server_resend_with_backoff_then_give_up(
    tmp_path: Path, boot: Path, caplog: pytest.LogCaptureFixture
) -> None:
    retry = Retry(attempts=3, max_wait=1.0)
    caplog.set_level(logging.INFO, "provisioner.tftp")
    with serving(settings_for(tmp_path), retry=retry) as server, RawClient(server.address) as c:
        c.request("f3000")  # DATA 1, never ACKed
        assert isinstance(c.recv_or_none(2.0), Data)  # resent after ~1 s
        assert isinstance(c.recv_or_none(2.0), Data)  # and again
        wait_until(lambda: not server.sessions)
    assert "abandoned: no ACK for block 1 after 3 sends" in caplog.text


def test_packets_from_a_foreign_port_get_error_5_and_the_transfer_goes_on(
    tmp_path: Path, boot: Path
) -> None:
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        pkt = c.request("f3000")
        assert isinstance(pkt, Data)
        assert c.peer is not None
        with RawClient(server.address) as intruder:
            intruder.send(Ack(1), c.peer)
            assert intruder.recv()[0] == Error(ErrorCode.UNKNOWN_TID, "unknown transfer ID")
        c.send(Ack(1))
        pkt, _ = c.recv()
        assert pkt == Data(2, (boot / "f3000").read_bytes()[512:1024])


def test_write_requests_are_refused(tmp_path: Path, boot: Path) -> None:
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        c.send(Request(Opcode.WRQ, "upload.bin", "octet"))
        assert c.recv()[0] == Error(ErrorCode.ACCESS_VIOLATION, "read-only server")
    assert not (boot / "upload.bin").exists()


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"\x00\x01f3000\x00", ErrorCode.ILLEGAL_OPERATION),  # no mode
        (b"\x00\x09junk", ErrorCode.ILLEGAL_OPERATION),  # bad opcode
        (b"\x00\x01f3000\x00octet\x00blksize\x00", ErrorCode.OPTION_REFUSED),
        (b"\x00\x01f3000\x00mail\x00", ErrorCode.ILLEGAL_OPERATION),
        (b"\x00\x01../../etc/passwd\x00octet\x00", ErrorCode.ACCESS_VIOLATION),
        (b"\x00\x01caf\xe9\x00octet\x00", ErrorCode.ACCESS_VIOLATION),
        (b"\x00\x01nope\x00octet\x00", ErrorCode.FILE_NOT_FOUND),
        (b"\x00\x04\x00\x01", ErrorCode.UNKNOWN_TID),  # an ACK to port 69
    ],
)
def test_bad_requests_get_the_right_error_and_the_next_client_is_served(
    tmp_path: Path, boot: Path, wire: bytes, code: ErrorCode
) -> None:
    with serving(settings_for(tmp_path)) as server:
        with RawClient(server.address) as c:
            c.send_raw(wire)
            pkt, _ = c.recv()
            assert isinstance(pkt, Error)
            assert pkt.code == code
        with RawClient(server.address) as c:
            assert c.fetch("f513") == (boot / "f513").read_bytes()


def test_a_malformed_request_is_answered_with_the_byte_where_decoding_failed(
    tmp_path: Path, boot: Path
) -> None:
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        c.send_raw(b"\x00\x01f3000\x00oct\xffet\x00")  # the 0xff is byte 11
        pkt, _ = c.recv()
        assert pkt == Error(ErrorCode.ILLEGAL_OPERATION, "mode is not ASCII (byte 11)")


def test_truncated_packets_and_client_errors_are_dropped_silently(
    tmp_path: Path, boot: Path
) -> None:
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        c.send_raw(b"\x00\x05\x00\x01oops\x00")  # an ERROR is never answered
        assert c.recv_or_none(0.3) is None
        assert c.fetch("f511") == (boot / "f511").read_bytes()


def test_a_uefi_size_probe_ends_quietly_on_error_8(
    tmp_path: Path, boot: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "provisioner.tftp")
    with serving(settings_for(tmp_path)) as server, RawClient(server.address) as c:
        assert c.request("f3000", tsize="0") == OptionAck({"tsize": "3000"})
        c.send(Error(ErrorCode.OPTION_REFUSED, "User aborted the transfer"))
        wait_until(lambda: not server.sessions)
    probe = [r for r in caplog.records if "ended by the client" in r.getMessage()]
    assert [r.levelno for r in probe] == [logging.DEBUG]


def test_sessions_beyond_the_cap_are_refused_and_the_others_finish(
    tmp_path: Path, boot: Path
) -> None:
    with serving(settings_for(tmp_path, tftp_max_sessions=2)) as server:
        held = [RawClient(server.address), RawClient(server.address)]
        try:
            for c in held:
                assert isinstance(c.request("f3000"), Data)
            with RawClient(server.address) as extra:
                assert extra.request("f3000") == Error(0, "server busy, try again later")
            for c in held:
                c.send(Ack(1))
                assert c.recv()[0].block == 2  # type: ignore[union-attr]
        finally:
            for c in held:
                c.close()


def test_hundreds_of_sessions_run_at_once(tmp_path: Path, boot: Path) -> None:
    """Past the ~600 where a select() loop fails: 700 transfers open together."""
    n = 700
    content = (boot / "f3000").read_bytes()
    with serving(settings_for(tmp_path)) as server:
        clients = [RawClient(server.address, timeout=20) for _ in range(n)]
        try:
            rrq = Request(Opcode.RRQ, "f3000", "octet")
            for c in clients:
                c.send(rrq)
            for c in clients:  # like a real client: resend the request if unanswered
                for _ in range(5):
                    try:
                        pkt, c.peer = c.recv_from_server(timeout=2.0)
                        break
                    except TimeoutError:
                        c.send(rrq, c.server)
                assert pkt == Data(1, content[:512])
            assert len(server.sessions) == n
            for c in clients:  # all open; now let each finish
                got, block = [content[:512]], 1
                while sum(map(len, got)) < len(content) or block == 1:
                    c.send(Ack(block))
                    pkt, _ = c.recv()
                    assert isinstance(pkt, Data)
                    while pkt.block <= block:  # the server resent one we had (a busy
                        pkt, _ = c.recv()  # machine: its timer ran out first); skip it
                        assert isinstance(pkt, Data)
                    assert pkt.block == block + 1, (pkt.block, block)
                    got.append(pkt.payload)
                    block += 1
                    if len(pkt.payload) < 512:
                        c.send(Ack(block))
                        break
                assert b"".join(got) == content
        finally:
            for c in clients:
                c.close()
        wait_until(lambda: not server.sessions, 10)


def test_a_port_in_use_is_a_clean_start_up_error(tmp_path: Path, boot: Path) -> None:
    from provisioner.errors import ConfigError

    with serving(settings_for(tmp_path)) as first:
        taken = f"127.0.0.1:{first.address[1]}"
        with (
            pytest.raises(ConfigError, match="Address already in use"),
            serving(settings_for(tmp_path, tftp=taken)),
        ):
            pass


class _DatabaseDown:
    """Stand-in for a Service whose database is unreachable (a real outage cannot be
    staged reliably in a unit run); it raises what SqlStore raises then."""

    def pxelinux_file(self, name: str, server_url: str | None = None) -> str | None:
        from provisioner.errors import StoreError

        raise StoreError("cannot open the database")


def test_a_store_failure_fails_that_request_only(
    tmp_path: Path, boot: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(settings_for(tmp_path), _DatabaseDown()) as server:
        with RawClient(server.address) as c:
            assert c.request("pxelinux.cfg/default") == Error(0, "internal error")
        with RawClient(server.address) as c:
            assert c.fetch("f512") == (boot / "f512").read_bytes()
    assert "TFTP RRQ pxelinux.cfg/default from 127.0.0.1 failed" in caplog.text
