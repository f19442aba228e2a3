"""Rows → an aligned table, CSV (RFC 4180) or JSON, for the listing commands."""

from __future__ import annotations

import csv
import json
import re
from argparse import ArgumentParser
from collections.abc import Sequence
from typing import TextIO

Cell = str | int
Row = Sequence[Cell]

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


def render_table(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """Left-aligned columns two spaces apart, a header and a rule under it.

    An empty cell shows as ``-`` so that columns stay readable.
    """
    lines = [tuple(columns)] + [tuple(visible(str(cell)) or "-" for cell in row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    lines.insert(1, tuple("-" * w for w in widths))
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def write_csv(columns: Sequence[str], rows: Sequence[Row], stream: TextIO) -> None:
    # RFC 4180: a header row, fields with a comma, quote or line break quoted
    # and inner quotes doubled (the csv module's "excel" dialect), CRLF lines.
    writer = csv.writer(stream)
    writer.writerow(columns)
    writer.writerows([_defused(visible(cell)) if isinstance(cell, str) else cell for cell in row] for row in rows)


def write_json(columns: Sequence[str], rows: Sequence[Row], stream: TextIO) -> None:
    """A list of objects keyed by column; numbers stay numbers. JSON needs no
    formula guard: nothing runs it."""
    json.dump([dict(zip(columns, row, strict=True)) for row in rows], stream, indent=1, ensure_ascii=False)
    stream.write("\n")


def write_rows(columns: Sequence[str], rows: Sequence[Row], fmt: str, stream: TextIO) -> None:
    if fmt == "csv":
        write_csv(columns, rows, stream)
    elif fmt == "json":
        write_json(columns, rows, stream)
    else:
        print(render_table(columns, rows), file=stream)


def add_format_option(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)"
    )


def _defused(cell: str) -> str:
    if not cell.startswith(_FORMULA_START) or _NUMBER.fullmatch(cell):
        return cell
    return "'" + cell
