"""Queries over the audit log, shaped into rows. Pure: no I/O, no clock.

The store answers the query (``Store.query_audit``, ``Store.count_audit``
which aggregates in SQL); this module turns its answers into rows and parses
the time bounds people type. Rendering rows as a table, CSV or JSON is the
CLI's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from radmfa.core.model import AuditRecord, Bypass, FraudReport

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The first ten as before seed 002's fields came; new columns go at the end,
# so spreadsheets built on the old export keep working.
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
    "user_ip",
    "phone",
    "device",
    "first_name",
    "last_name",
    "email",
    "server",
    "server_ip",
)
# What `report auth` shows on a terminal by default: fits 80 columns (the
# long cells cut); --wide, CSV and JSON have AUTH_COLUMNS.
AUTH_BRIEF_COLUMNS = ("time", "user", "client", "factor", "result", "reason")
FRAUD_COLUMNS = (
    "id",
    "time",
    "user",
    "source",
    "status",
    "client",
    "calling_station_id",
    "phone",
    "device",
    "note",
)
BYPASS_COLUMNS = (
    "id",
    "created",
    "user",
    "reason",
    "created_by",
    "expires",
    "status",
    "used",
    "used_client",
    "used_station",
    "cancelled",
)
BYPASS_STATUSES = ("open", "used", "expired", "cancelled")


def bypass_rows(found: Iterable[Bypass], *, now: datetime) -> list[tuple[str | int, ...]]:
    def when(t: datetime | None) -> str:
        return format_time(t) if t is not None else ""

    return [
        (
            b.id,
            format_time(b.created_at),
            b.username,
            b.reason,
            b.created_by,
            format_time(b.expires_at),
            b.status(now=now),
            when(b.used_at),
            b.used_client or "",
            b.used_station or "",
            when(b.cancelled_at),
        )
        for b in found
    ]


# The results an audit row can have, in the order usage reports show them.
RESULTS = ("accept", "reject", "challenge", "drop")
USAGE_COLUMNS = {
    "day": ("day", "method", *RESULTS, "total"),
    "client": ("client", *RESULTS, "total"),
    "user": ("user", "failures"),
}

_RELATIVE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def format_time(when: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``: sorts as text, parses everywhere."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def auth_brief_rows(records: Iterable[AuditRecord]) -> list[tuple[str, ...]]:
    """One row per audit record, in ``AUTH_BRIEF_COLUMNS`` order; the time to
    the second (UTC)."""
    return [
        (r.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), r.username, r.client_name, r.factor, r.result,
         r.reason)
        for r in records
    ]


def auth_rows(records: Iterable[AuditRecord]) -> list[tuple[str | float, ...]]:
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
            round(r.duration_ms, 1),
            r.user_ip,
            r.phone,
            r.device,
            r.first_name,
            r.last_name,
            r.email,
            r.server_name,
            r.server_ip,
        )
        for r in records
    ]


def fraud_rows(found: Iterable[FraudReport]) -> list[tuple[str | int, ...]]:
    return [
        (
            r.id or 0,
            format_time(r.time),
            r.username,
            r.source,
            r.status,
            r.client_name,
            r.calling_station_id,
            r.phone,
            r.device,
            r.note,
        )
        for r in found
    ]


def epoch_date(day: int) -> date:
    """Whole UTC days since 1970-01-01 (the store's "day" group) → the date."""
    return (_EPOCH + timedelta(days=day)).date()


def format_day(day: int) -> str:
    """Whole UTC days since 1970-01-01 → ISO date."""
    return epoch_date(day).isoformat()


def chart_range(
    since: datetime | None, until: datetime | None, days: Sequence[date], *, today: date
) -> tuple[date, date]:
    """The first and last UTC day a usage chart draws: the days ``since`` and
    ``until`` (exclusive) fall in, as the daily counts widen them; without
    ``since`` the first day with rows, without ``until`` today (or the last
    day with rows, if later). No rows and no bounds: today alone."""
    last = (until - timedelta(microseconds=1)).astimezone(UTC).date() if until else max([today, *days])
    first = since.astimezone(UTC).date() if since else min(days, default=last)
    return min(first, last), last


def pivot_results(counts: Iterable[Sequence[str | int]], *, day_first: bool) -> list[tuple[str | int, ...]]:
    """Rows of (*keys, result, count) → one row per keys with a count per
    result and a total (USAGE_COLUMNS order). The database already counted;
    this only turns a long list into a wide one."""
    table: dict[tuple[str | int, ...], dict[str, int]] = {}
    for *keys, result, count in counts:
        table.setdefault(tuple(keys), {})[str(result)] = int(count)
    rows: list[tuple[str | int, ...]] = []
    for key, by_result in table.items():
        shown = (format_day(int(key[0])), *key[1:]) if day_first else key
        # total counts every row, even a result this version does not name
        rows.append((*shown, *(by_result.get(r, 0) for r in RESULTS), sum(by_result.values())))
    return rows


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
