"""Range and conditional requests (RFC 9110), decided without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.ranges import (
    MAX_RANGES,
    ByteRange,
    Plan,
    Validators,
    evaluate,
    multipart_layout,
    parse_http_date,
    parse_range,
)

V = Validators(etag='"abc"', last_modified=1_700_000_000)
DATE = "Tue, 14 Nov 2023 22:13:20 GMT"  # == 1_700_000_000
EARLIER = "Tue, 14 Nov 2023 22:13:19 GMT"


def _plan(method: str = "GET", size: int = 1000, **headers: str) -> Plan:
    hdrs = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    return evaluate(method, lambda name: hdrs.get(name.lower()), size, V)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", [(0, 1)]),  # first byte
        ("bytes=999-999", [(999, 1)]),  # last byte
        ("bytes=-1", [(999, 1)]),  # last byte, suffix form
        ("bytes=100-199", [(100, 100)]),
        ("bytes=900-", [(900, 100)]),
        ("bytes=-500", [(500, 500)]),
        ("bytes=-5000", [(0, 1000)]),  # suffix longer than the file: all of it
        ("bytes=990-5000", [(990, 10)]),  # end past the file: clamped
        ("BYTES = 0-9 , 20-29", None),  # the unit may not have spaces around '='
        ("bytes=0-9, 20-29", [(0, 10), (20, 10)]),
        ("bytes=20-29,0-9", [(20, 10), (0, 10)]),  # order kept when they do not overlap
        ("bytes=0-9,,20-29", [(0, 10), (20, 10)]),  # empty list elements are allowed
        ("bytes=0-99,50-149", [(0, 150)]),  # overlapping: merged
        ("bytes=1000-", []),  # starts at the end: unsatisfiable
        ("bytes=5000-6000", []),
        ("bytes=-0", []),
        ("bytes=5-1", None),  # invalid: ignored
        ("bytes=a-b", None),
        ("bytes=-", None),
        ("items=0-1", None),
        ("bytes", None),
        ("bytes=", None),
    ],
)
def test_range_headers_select_the_bytes_the_rfc_says(
    header: str, expected: list[tuple[int, int]] | None
) -> None:
    got = parse_range(header, 1000)
    assert (None if got is None else [(r.start, r.length) for r in got]) == expected


def test_too_many_ranges_are_ignored_and_an_empty_file_has_no_ranges() -> None:
    many = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(MAX_RANGES + 1))
    assert parse_range(many, 10_000) is None
    assert parse_range("bytes=0-0", 0) is None


def test_status_follows_the_range_header() -> None:
    assert _plan() == Plan(200)
    assert _plan(range="bytes=0-9") == Plan(206, (ByteRange(0, 10),))
    assert _plan(range="bytes=2000-") == Plan(416)
    assert _plan(range="bytes=9-0") == Plan(200)
    assert _plan("HEAD", range="bytes=0-9") == Plan(200)  # ranges are for GET only


def test_if_range_with_the_current_etag_or_date_keeps_the_range() -> None:
    one = Plan(206, (ByteRange(0, 10),))
    assert _plan(range="bytes=0-9", if_range='"abc"') == one
    assert _plan(range="bytes=0-9", if_range=DATE) == one
    assert _plan(range="bytes=0-9", if_range='"old"') == Plan(200)
    assert _plan(range="bytes=0-9", if_range='W/"abc"') == Plan(200)  # weak never matches
    assert _plan(range="bytes=0-9", if_range=EARLIER) == Plan(200)
    assert _plan(range="bytes=0-9", if_range="garbage") == Plan(200)


def test_conditional_requests_give_304_and_412_in_the_rfc_order() -> None:
    assert _plan(if_none_match='"abc"') == Plan(304)
    assert _plan(if_none_match='W/"abc"') == Plan(304)  # weak comparison
    assert _plan(if_none_match='"x", "abc"') == Plan(304)
    assert _plan(if_none_match="*") == Plan(304)
    assert _plan(if_none_match='"x"') == Plan(200)
    assert _plan(if_modified_since=DATE) == Plan(304)
    assert _plan(if_modified_since=EARLIER) == Plan(200)
    assert _plan(if_none_match='"x"', if_modified_since=DATE) == Plan(200)  # INM wins
    assert _plan(if_match='"abc"') == Plan(200)
    assert _plan(if_match='W/"abc"') == Plan(412)  # strong comparison
    assert _plan(if_match='"x"', if_none_match='"abc"') == Plan(412)
    assert _plan(if_unmodified_since=EARLIER) == Plan(412)
    assert _plan(if_unmodified_since=DATE, range="bytes=0-0") == Plan(206, (ByteRange(0, 1),))
    assert _plan(if_modified_since="not a date") == Plan(200)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 14 Nov 2023 22:13:20 GMT", 1_700_000_000),
        ("Tuesday, 14-Nov-23 22:13:20 GMT", 1_700_000_000),
        ("Tue Nov 14 22:13:20 2023", 1_700_000_000),
        ("Sun Nov  6 08:49:37 1994", 784_111_777),
        ("Tue, 31 Feb 2023 22:13:20 GMT", None),
        ("Tue, 14 Nov 2023 22:13:20 CET", None),
        ("yesterday", None),
    ],
)
def test_http_dates_in_all_three_rfc_forms(text: str, expected: int | None) -> None:
    assert parse_http_date(text) == expected


def test_multipart_layout_length_is_exactly_what_is_sent() -> None:
    ranges = (ByteRange(0, 10), ByteRange(500, 1))
    layout = multipart_layout(ranges, 1000, "application/octet-stream", "XYZ")
    body = b"".join(h + b"x" * r.length for h, r in layout.parts) + layout.trailer
    assert len(body) == layout.length
    assert body.startswith(b"\r\n--XYZ\r\nContent-Type: application/octet-stream\r\n")
    assert b"Content-Range: bytes 500-500/1000\r\n\r\nx\r\n--XYZ--\r\n" in body
    assert layout.content_type == "multipart/byteranges; boundary=XYZ"


_spec = st.one_of(
    st.tuples(st.integers(0, 1200), st.integers(0, 1200)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.integers(0, 1200).map(lambda n: f"{n}-"),
    st.integers(0, 1200).map(lambda n: f"-{n}"),
)


@given(specs=st.lists(_spec, min_size=1, max_size=6), size=st.integers(0, 1100))
def test_ranges_always_lie_inside_the_file_and_never_exceed_it_in_total(
    specs: list[str], size: int
) -> None:
    ranges = parse_range("bytes=" + ",".join(specs), size)
    if ranges is None:
        return
    for r in ranges:
        assert r.start >= 0
        assert r.length > 0
        assert r.end < size
    assert sum(r.length for r in ranges) <= size or len(ranges) == len(specs)


@given(header=st.text(max_size=60), size=st.integers(0, 1 << 40))
def test_any_range_header_is_parsed_without_error(header: str, size: int) -> None:
    parse_range(header, size)
    evaluate("GET", lambda name: header, size, V)
