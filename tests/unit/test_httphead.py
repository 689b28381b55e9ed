"""The HTTP front's head reader (pure): when a request head, and a small body with
it, is complete, whatever way the bytes are split; what it refuses, and why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.httphead import MORE, READY, HeadLimits, HeadReader, Refuse, Verdict

LIMITS = HeadLimits(max_head=1024, small_body=100)
GET = b"GET /boot/ipxe?mac=52:54:00:00:00:01 HTTP/1.1\r\nHost: x\r\n\r\n"


def feed_bytewise(data: bytes, limits: HeadLimits = LIMITS) -> list[Verdict]:
    reader = HeadReader(limits)
    return [reader.feed(data[i : i + 1]) for i in range(len(data))]


def first_done(data: bytes, limits: HeadLimits = LIMITS) -> tuple[int, Verdict]:
    """(bytes fed, verdict) at the first verdict that is not MORE."""
    for i, verdict in enumerate(feed_bytewise(data, limits)):
        if verdict != MORE:
            return i + 1, verdict
    return len(data), MORE


def test_a_head_is_ready_at_its_last_byte_and_not_before() -> None:
    assert first_done(GET) == (len(GET), READY)


def test_the_reader_keeps_every_byte_for_the_parser_including_pipelined_ones() -> None:
    reader = HeadReader(LIMITS)
    assert reader.feed(GET + GET[:10]) == READY
    assert reader.buffered == GET + GET[:10]
    assert reader.feed(b"more") == READY  # decided: later bytes change nothing


def test_a_small_body_is_waited_for_and_a_large_one_is_not() -> None:
    small = b"PUT /x HTTP/1.1\r\nContent-Length: 100\r\n\r\n"
    assert first_done(small + b"a" * 100) == (len(small) + 100, READY)
    large = b"PUT /x HTTP/1.1\r\ncontent-length: 101\r\n\r\n"
    assert first_done(large + b"a" * 101) == (len(large), READY)


def test_expect_100_continue_is_ready_at_the_head() -> None:
    head = b"PUT /x HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    assert first_done(head + b"hello") == (len(head), READY)


def test_a_small_chunked_body_is_ready_at_its_last_chunk_and_trailers() -> None:
    head = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
    assert first_done(head + body) == (len(head + body), READY)
    with_trailer = b"5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"
    assert first_done(head + with_trailer) == (len(head + with_trailer), READY)


def test_a_large_chunked_body_streams_once_past_the_small_body_limit() -> None:
    head = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"64\r\n" + b"a" * 100 + b"\r\n" + b"64\r\n" + b"b" * 100 + b"\r\n0\r\n\r\n"
    n, verdict = first_done(head + body)
    assert verdict == READY
    assert n < len(head + body)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"NONSENSE\r\n\r\n", 400, "bad_request_line"),
        (b"GET /\r\n\r\n", 400, "bad_request_line"),
        (b"GET / SPDY/3\r\n\r\n", 400, "bad_request_line"),
        (b"G(T / HTTP/1.1\r\n\r\n", 400, "bad_request_line"),
        (b"GET / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400, "bad_framing"),
        (b"GET / HTTP/1.1\r\nContent-Length: \xd9\xa3\r\n\r\n", 400, "bad_framing"),
        (b"GET / HTTP/1.1\r\nContent-Length: " + b"9" * 19 + b"\r\n\r\n", 400, "bad_framing"),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "bad_framing"),
        (b"GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", 400, "bad_framing"),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "bad_framing",
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400, "bad_chunk"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 1100 + b"\r\n\r\n", 431, "header_too_large"),
    ],
)
def test_what_cannot_be_a_request_is_refused_with_a_4xx(
    data: bytes, status: int, code: str
) -> None:
    _, verdict = first_done(data)
    assert isinstance(verdict, Refuse)
    assert (verdict.status, verdict.code) == (status, code)


def test_an_endless_head_is_refused_once_past_the_limit_without_its_end() -> None:
    n, verdict = first_done(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 1000)
    assert isinstance(verdict, Refuse)
    assert verdict.status == 431
    assert n == LIMITS.max_head + 1


def test_repeated_equal_content_lengths_are_one_length() -> None:
    head = b"PUT /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"
    assert first_done(head + b"ab") == (len(head) + 2, READY)


@given(
    body=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    chunked=st.booleans(),
)
def test_any_split_of_the_bytes_gives_the_same_verdict(
    body: bytes, cuts: list[int], chunked: bool
) -> None:
    if chunked:
        framed = b"".join(f"{len(body[i : i + 50]):x}\r\n".encode() + body[i : i + 50] + b"\r\n"
                          for i in range(0, len(body), 50)) + b"0\r\n\r\n"  # fmt: skip
        data = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + framed
    else:
        data = f"POST /x HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    whole = HeadReader(LIMITS).feed(data)
    reader = HeadReader(LIMITS)
    verdict: Verdict = MORE
    start = 0
    for cut in sorted({min(c, len(data)) for c in cuts} | {len(data)}):
        verdict = reader.feed(data[start:cut])
        start = cut
    assert verdict == whole == READY
