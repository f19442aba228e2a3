"""Rows of text → an aligned table or CSV, for the listing commands."""

from __future__ import annotations

import csv
from argparse import ArgumentParser
from collections.abc import Sequence
from typing import TextIO

Row = Sequence[str]

# Spreadsheets run cells that start with these as formulas; a User-Name comes
# from the network, so a report must not carry one (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def visible(cell: str) -> str:
    """Control characters (a terminal escape in a User-Name…) shown as escapes."""
    if cell.isprintable():
        return cell
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in cell)


def render_table(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """Left-aligned columns two spaces apart, a header and a rule under it.

    An empty cell shows as ``-`` so that columns stay readable.
    """
    lines = [tuple(columns)] + [tuple(visible(cell) or "-" for cell in row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    lines.insert(1, tuple("-" * w for w in widths))
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def write_csv(columns: Sequence[str], rows: Sequence[Row], stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_defused(visible(cell)) for cell in row] for row in rows)


def write_rows(columns: Sequence[str], rows: Sequence[Row], fmt: str, stream: TextIO) -> None:
    if fmt == "csv":
        write_csv(columns, rows, stream)
    else:
        print(render_table(columns, rows), file=stream)


def add_format_option(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("table", "csv"), default="table", help="output format (default: table)"
    )


def _defused(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell
