"""Queries over the audit log, shaped into rows. Pure: no I/O, no clock.

The store answers the query (``Store.query_audit``); this module turns its
records into rows of text and parses the time bounds people type. Rendering
rows as a table or CSV is the CLI's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from radmfa.core.model import AuditRecord

AUTH_COLUMNS = (
    "time",
    "request_id",
    "client",
    "client_ip",
    "user",
    "calling_station_id",
    "factor",
    "result",
    "reason",
    "ms",
)

_RELATIVE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def format_time(when: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``: sorts as text, parses everywhere."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def auth_rows(records: Iterable[AuditRecord]) -> list[tuple[str, ...]]:
    """One row per audit record, in ``AUTH_COLUMNS`` order."""
    return [
        (
            format_time(r.time),
            r.request_id,
            r.client_name,
            r.client_ip,
            r.username,
            r.calling_station_id,
            r.factor,
            r.result,
            r.reason,
            f"{r.duration_ms:.1f}",
        )
        for r in records
    ]


def parse_when(text: str, *, now: datetime) -> datetime:
    """A point in time: an age before ``now`` (``90s``, ``30m``, ``24h``, ``7d``, ``2w``)
    or an ISO 8601 date or date-time. A time without a zone is UTC.

    Raises ValueError with a sentence saying what is accepted.
    """
    text = text.strip()
    if match := _RELATIVE.fullmatch(text):
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r}; give an ISO date or date-time (2024-05-01, "
            "2024-05-01T13:30) or an age such as 30m, 24h, 7d"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
