"""Rows → an aligned table, CSV (RFC 4180) or JSON, for the listing commands.

Cells keep their type until the end: a count or an id is an ``int``, a
duration a ``float``, a missing value ``None``, so JSON has numbers and
``null``; the table and CSV render them as text (``None`` as ``-`` and
empty)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import sys
from argparse import ArgumentParser
from collections.abc import Sequence
from typing import TextIO

Cell = str | int | float | None
Row = Sequence[Cell]
ELLIPSIS = "…"

# Spreadsheets run cells that start with these as formulas; a User-Name comes
# from the network, so a report must not carry one (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# … except a plain signed number such as an E.164 phone number: it calls no
# function, and a quote in front would show in the cell.
_NUMBER = re.compile(r"[+-][0-9]+(\.[0-9]+)?")


def visible(cell: str) -> str:
    """Control characters (a terminal escape in a User-Name…) shown as escapes."""
    if cell.isprintable():
        return cell
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in cell)


def _text(cell: Cell) -> str:
    return "" if cell is None else visible(str(cell))


def render_table(
    columns: Sequence[str], rows: Sequence[Row], *, width: int | None = None, shrink: Sequence[str] = ()
) -> str:
    """Left-aligned columns two spaces apart, a header and a rule under it.

    An empty cell shows as ``-`` so that columns stay readable. With
    ``width``, the ``shrink`` columns (widest first) are cut to make each line
    fit, their cut cells ending in ``…``; a column keeps at least its header.
    """
    lines = [tuple(columns)] + [tuple(_text(cell) or "-" for cell in row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    if width is not None:
        widths = _fit(columns, widths, width, shrink)
        lines = [tuple(_cut(cell, w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    lines.insert(1, tuple("-" * w for w in widths))
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _fit(columns: Sequence[str], widths: list[int], width: int, shrink: Sequence[str]) -> list[int]:
    widths = list(widths)
    over = sum(widths) + 2 * (len(widths) - 1) - width
    while over > 0:
        cuttable = [i for i, c in enumerate(columns) if c in shrink and widths[i] > len(c)]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda i: widths[i])
        # Down to the next widest (or the header), at most what is still over.
        others = [widths[i] for i in cuttable if i != widest] + [len(columns[widest])]
        cut = min(over, widths[widest] - max(others)) or 1
        widths[widest] -= cut
        over -= cut
    return widths


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: width - 1] + ELLIPSIS


def write_csv(columns: Sequence[str], rows: Sequence[Row], stream: TextIO, *, header: bool = True) -> None:
    """``header=False``: rows only, to follow what was written before (an export in pages)."""
    # RFC 4180: a header row, fields with a comma, quote or line break quoted
    # and inner quotes doubled (the csv module's "excel" dialect), CRLF lines.
    writer = csv.writer(stream)
    if header:
        writer.writerow(columns)
    writer.writerows(
        [_defused(visible(cell)) if isinstance(cell, str) else cell for cell in row] for row in rows
    )  # None is written as an empty field


def write_json(columns: Sequence[str], rows: Sequence[Row], stream: TextIO) -> None:
    """A list of objects keyed by column; numbers stay numbers. JSON needs no
    formula guard: nothing runs it."""
    json.dump([dict(zip(columns, row, strict=True)) for row in rows], stream, indent=1, ensure_ascii=False)
    stream.write("\n")


def write_rows(
    columns: Sequence[str],
    rows: Sequence[Row],
    fmt: str,
    stream: TextIO,
    *,
    width: int | None = None,
    shrink: Sequence[str] = (),
) -> None:
    """``width`` and ``shrink`` fit a table (only) to a terminal: render_table."""
    if fmt == "csv":
        write_csv(columns, rows, stream)
    elif fmt == "json":
        write_json(columns, rows, stream)
    else:
        print(render_table(columns, rows, width=width, shrink=shrink), file=stream)


def terminal_width(default: int = 80) -> int:
    """$COLUMNS when set (as shells export it), else the terminal's width,
    else ``default``: output piped to a file or a pager gets 80 columns."""
    text = os.environ.get("COLUMNS", "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    if sys.stdout.isatty():
        with contextlib.suppress(OSError):
            return os.get_terminal_size(sys.stdout.fileno()).columns
    return default


def add_format_option(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)"
    )


def _defused(cell: str) -> str:
    if not cell.startswith(_FORMULA_START) or _NUMBER.fullmatch(cell):
        return cell
    return "'" + cell
