"""A rack as CSV -> node changes (the console's Import page). Pure: text in,
rows and their problems out; :meth:`provisioner.service.Service.import_nodes`
checks and stores them, all or none.

The header names the columns: ``mac`` (required), the node fields the API
accepts (``hostname``, ``profile``, ``release``, ``bundle``, ``action``), the
known dot-option keys as columns of their own (``ip``, ``gw``, ``submask``,
``dns``, ``keyboard``, ...: a cell ``192.0.2.10`` under ``ip`` is the word
``ip.192.0.2.10``) and ``options`` (more dot-options, as the API writes them).
Each row changes only what its columns say (a PATCH); an empty cell clears
that field. When any option column is present the row's options are exactly
those columns' words.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from provisioner.bootparams import FLAG_KEYS, KNOWN_KEYS, Options, Word, parse_word
from provisioner.domain import normalize_mac
from provisioner.errors import ValidationError

#: the largest upload the page reads, and the most rows one import changes
MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 5000
#: node fields a column may set (the API's writable fields but ``options``)
FIELD_COLUMNS = ("hostname", "profile", "release", "bundle", "action")
OPTION_COLUMNS = tuple(sorted(KNOWN_KEYS - FLAG_KEYS))


@dataclass(frozen=True)
class RowProblem:
    """Row ``row`` (1 = the header, as a spreadsheet counts) is refused: ``field``
    names the column (or the option key) and ``message`` says why."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message}"


@dataclass(frozen=True)
class RackRow:
    row: int
    mac: str
    data: dict[str, Any]
    cells: dict[str, str]


@dataclass
class RackCsv:
    columns: list[str] = field(default_factory=list)
    #: the rows that parsed (each with its cells as typed, for the preview)
    rows: list[RackRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_rack_csv(text: str) -> RackCsv:
    """Read the CSV; a problem names its row and column. A bad header is one
    problem on row 1 and no rows."""
    out = RackCsv()
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_CSV_BYTES:
        raise ValidationError("csv", f"{size} bytes; an import takes at most {MAX_CSV_BYTES}")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader, None)
        out.columns = [c.strip().lower() for c in header or []]
        if not _header_ok(out):
            return out
        for count, record in enumerate(reader, 1):
            if count > MAX_CSV_ROWS:
                raise ValidationError("csv", f"more than {MAX_CSV_ROWS} rows; import it in parts")
            if any(cell.strip() for cell in record):
                _row(out, reader.line_num, record)
    except csv.Error as exc:
        out.problems.append(RowProblem(reader.line_num, "csv", str(exc)))
    return out


def _header_ok(out: RackCsv) -> bool:
    known = {"mac", "options", *FIELD_COLUMNS, *OPTION_COLUMNS}
    if "mac" not in out.columns:
        out.problems.append(RowProblem(1, "mac", "the header row needs a mac column"))
    for column in out.columns:
        if column not in known:
            names = ", ".join(sorted(known))
            message = f"unknown column; known: {names}"
            out.problems.append(RowProblem(1, column or "(empty)", message))
    twice = sorted({c for c in out.columns if out.columns.count(c) > 1})
    for column in twice:
        out.problems.append(RowProblem(1, column, "appears twice in the header"))
    return not out.problems


def _row(out: RackCsv, row: int, record: list[str]) -> None:
    if len(record) > len(out.columns):
        out.problems.append(RowProblem(row, "csv", "more cells than the header has columns"))
        return
    cells = {c: v.strip() for c, v in zip(out.columns, record, strict=False)}
    try:
        mac = normalize_mac(cells.get("mac", ""), "mac")
    except ValidationError as exc:
        out.problems.append(RowProblem(row, exc.field, exc.detail))
        return
    data: dict[str, Any] = {}
    for column in FIELD_COLUMNS:
        if column in cells and (cells[column] or column != "action"):
            data[column] = cells[column] or None
    try:
        options = _options(out.columns, cells)
    except ValidationError as exc:
        out.problems.append(RowProblem(row, exc.field, exc.detail))
        return
    if options is not None:
        data["options"] = options.render()
    out.rows.append(RackRow(row, mac, data, cells))


def _options(columns: list[str], cells: dict[str, str]) -> Options | None:
    """The row's dot-options: the key columns' words, then the ``options`` cell."""
    keyed = [c for c in columns if c in OPTION_COLUMNS]
    if not keyed and "options" not in columns:
        return None
    words: list[Word] = []
    for column in keyed:
        value = cells.get(column, "")
        try:
            if value:
                words.append(parse_word(f"{column}.{value}"))
        except ValidationError as exc:
            raise ValidationError(column, exc.detail) from None
    words += Options.parse(cells.get("options", ""), "options").words
    return Options.of(words)
