"""Conditional and range requests for static files (RFC 9110 sections 13 and 14),
pure: request headers and the file's size and validators in, a :class:`Plan` out.

The web layer turns the plan into a response; this module decides which one:
``304`` / ``412`` from the preconditions (in the RFC's order), then ``416``,
``206`` with one or more byte ranges, or ``200`` for the whole file. A Range
header that is malformed, not in bytes, on a method other than GET, or asks for
more than :data:`MAX_RANGES` pieces is ignored (a ``200``), as the RFC allows; a
position longer than 19 digits (past any file) raises a ValidationError naming ``Range``;
overlapping ranges are merged so a response is never longer than the file plus
multipart framing.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from provisioner.domain import parse_count

MAX_RANGES = 32

_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)\Z")
_ETAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|\Z)')


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    length: int

    @property
    def end(self) -> int:
        """Last byte position (inclusive), as in ``Content-Range``."""
        return self.start + self.length - 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


@dataclass(frozen=True, slots=True)
class Plan:
    """``status`` 200 (whole file), 206 (``ranges``), 304, 412 or 416."""

    status: int
    ranges: tuple[ByteRange, ...] = ()

    @property
    def has_body(self) -> bool:
        return self.status in (200, 206)


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str  #: strong entity tag, quoted: ``"abc"``
    last_modified: int  #: seconds since the epoch


def parse_range(header: str, size: int) -> list[ByteRange] | None:
    """The ranges of a ``Range`` header over ``size`` bytes.

    ``None``: ignore the header (malformed, another unit, too many ranges, an
    empty file); ``[]``: nothing satisfiable (416); else the ranges, in the
    order asked unless they overlap (then sorted and merged).
    """
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.lower() != "bytes" or size <= 0:
        return None
    items = [item.strip() for item in spec.split(",")]
    items = [item for item in items if item]
    if not items or len(items) > MAX_RANGES:
        return None
    ranges: list[ByteRange] = []
    for item in items:
        m = _RANGE_SPEC.match(item)
        if m is None or m.group(1) == m.group(2) == "":
            return None
        first = _number(m.group(1))
        last = _number(m.group(2))
        if first is None:  # suffix: the last N bytes
            assert last is not None
            if last > 0:
                ranges.append(ByteRange(max(0, size - last), min(last, size)))
            continue
        start = first
        if last is not None and last < start:
            return None
        if start < size:
            end = size - 1 if last is None else min(last, size - 1)
            ranges.append(ByteRange(start, end - start + 1))
    return _coalesce(ranges)


def _number(digits: str) -> int | None:
    """A range bound (``""``: absent); past 64 bits it is a ValidationError naming
    ``Range`` (a 4xx), not an ``int()`` of thousands of digits."""
    return parse_count("Range", digits) if digits else None


def _coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    ordered = sorted(ranges, key=lambda r: r.start)
    overlap = any(b.start <= a.end for a, b in itertools.pairwise(ordered))
    if not overlap:
        return ranges
    merged: list[ByteRange] = []
    for r in ordered:
        if merged and r.start <= merged[-1].end + 1:
            last = merged[-1]
            merged[-1] = ByteRange(last.start, max(last.end, r.end) - last.start + 1)
        else:
            merged.append(r)
    return merged


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DATE_FORMS = (
    # IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    re.compile(r"[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT\Z"),
    # obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    re.compile(r"[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT\Z"),
)
# asctime: Sun Nov  6 08:49:37 1994
_ASCTIME = re.compile(r"[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})\Z")


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch of an HTTP-date (RFC 9110 5.6.7), or None."""
    text = value.strip()
    parts: tuple[str, ...] | None = None
    for form in _DATE_FORMS:
        m = form.match(text)
        if m:
            parts = m.groups()
            break
    else:
        m = _ASCTIME.match(text)
        if m:
            mon, day, hh, mm, ss, year = m.groups()
            parts = (day.strip(), mon, year, hh, mm, ss)
    if parts is None or parts[1].lower() not in _MONTHS:
        return None
    day, mon, year, hh, mm, ss = parts
    y = int(year)
    if len(year) == 2:  # RFC 850: a two-digit year is the nearest past century
        y += 2000 if y < 70 else 1900
    try:
        when = datetime(y, _MONTHS.index(mon.lower()) + 1, int(day), int(hh), int(mm), int(ss))
    except ValueError:
        return None
    return calendar.timegm(when.timetuple())


def _etags(header: str) -> list[tuple[bool, str]] | None:
    """``[(weak, tag), ...]``; ``None`` for a malformed list."""
    tags: list[tuple[bool, str]] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        m = _ETAG.match(text, pos)
        if m is None:
            return None
        tags.append((m.group(1) is not None, m.group(2)))
        pos = m.end()
        while pos < len(text) and text[pos] in " ,":
            pos += 1
    return tags


def _match(header: str, etag: str, *, weak: bool) -> bool:
    if header.strip() == "*":
        return True
    return any(tag == etag and (weak or not is_weak) for is_weak, tag in _etags(header) or [])


def evaluate(method: str, header: Callable[[str], str | None], size: int, v: Validators) -> Plan:
    """Decide the response to ``method`` (GET or HEAD) for a file of ``size``
    bytes; ``header(name)`` returns a request header or None."""
    if_match = header("If-Match")
    if if_match is not None:
        if not _match(if_match, v.etag, weak=False):
            return Plan(412)
    else:
        since = header("If-Unmodified-Since")
        date = parse_http_date(since) if since is not None else None
        if date is not None and v.last_modified > date:
            return Plan(412)
    if_none_match = header("If-None-Match")
    if if_none_match is not None:
        if _match(if_none_match, v.etag, weak=True):
            return Plan(304) if method in ("GET", "HEAD") else Plan(412)
    elif method in ("GET", "HEAD"):
        since = header("If-Modified-Since")
        date = parse_http_date(since) if since is not None else None
        if date is not None and v.last_modified <= date:
            return Plan(304)
    range_header = header("Range")
    if method != "GET" or range_header is None or not _if_range_holds(header("If-Range"), v):
        return Plan(200)
    ranges = parse_range(range_header, size)
    if ranges is None:
        return Plan(200)
    if not ranges:
        return Plan(416)
    return Plan(206, tuple(ranges))


def _if_range_holds(value: str | None, v: Validators) -> bool:
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == v.etag  # strong comparison; a weak tag never matches
    return parse_http_date(value) == v.last_modified


@dataclass(frozen=True, slots=True)
class MultipartLayout:
    """Framing of a ``multipart/byteranges`` body: each part's header bytes
    followed by its range of the file, then the closing delimiter."""

    boundary: str
    parts: tuple[tuple[bytes, ByteRange], ...]
    trailer: bytes

    @property
    def content_type(self) -> str:
        return f"multipart/byteranges; boundary={self.boundary}"

    @property
    def length(self) -> int:
        return sum(len(h) + r.length for h, r in self.parts) + len(self.trailer)


def multipart_layout(
    ranges: tuple[ByteRange, ...], size: int, content_type: str, boundary: str
) -> MultipartLayout:
    parts = tuple(
        (
            (
                f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: {r.content_range(size)}\r\n\r\n"
            ).encode("ascii"),
            r,
        )
        for r in ranges
    )
    return MultipartLayout(boundary, parts, f"\r\n--{boundary}--\r\n".encode("ascii"))
