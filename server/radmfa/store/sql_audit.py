"""The audit log (one row per answered request) and the admin log (one row
per change an administrator made), in the SQL both backends share."""

# ruff: noqa: S608

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import TypeVar

from radmfa.core.admin_model import AdminEvent, AuditFilter
from radmfa.core.model import AuditRecord
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase

_AUDIT = (
    "time, request_id, client_name, client_ip, username, calling_station_id, factor, "
    "result, reason, duration_ms, first_name, last_name, email, phone, device, user_ip, "
    "server_name, server_ip"
)
AUDIT_COLUMNS = _AUDIT  # for a backend's own statement over the same columns (postgres.py)
_AUDIT_PLACES = ", ".join("?" * len(_AUDIT.split(", ")))
_ADMIN = "time, actor, action, target, detail"
# write_audit inserts this many rows a statement: each statement executed
# costs its own binding set-up and AUTOINCREMENT bookkeeping (a read and a
# write of sqlite_sequence), a quarter of a row's insert one row at a time
# (docs/benchmarks.md); 50 rows are 900 parameters, below any SQLite's limit.
AUDIT_ROWS_PER_INSERT = 50
_INSERT_AUDIT_ROWS = f"INSERT INTO audit ({_AUDIT}) VALUES " + ", ".join(
    [f"({_AUDIT_PLACES})"] * AUDIT_ROWS_PER_INSERT
)
# purge_audit deletes this many rows per statement: SQLite holds its one write
# lock for a whole statement, and every login waits behind it.
AUDIT_PURGE_BATCH = 5000
# audit_pages / admin_event_pages read this many rows per statement.
PAGE_ROWS = 5000
_T = TypeVar("_T")


def epoch_day(when: datetime) -> int:
    """Whole UTC days since 1970-01-01 (audit_daily.day)."""
    return int(to_epoch(when) // 86400)


def _range(since: datetime | None, until: datetime | None) -> tuple[list[str], list[object]]:
    """WHERE terms for [since, until) over a ``time`` column."""
    where: list[str] = []
    args: list[object] = []
    if since is not None:
        where.append("time >= ?")
        args.append(to_epoch(since))
    if until is not None:
        where.append("time < ?")
        args.append(to_epoch(until))
    return where, args


# Report filter → audit column; each has a (column, time) index (migration
# audit_detail); audit_phone only over rows with a phone (audit_phone_partial).
_FILTER_COLUMNS = (
    ("username", "username"),
    ("phone", "phone"),
    ("result", "result"),
    ("client", "client_name"),
    ("method", "factor"),
)


def audit_where(f: AuditFilter) -> tuple[list[str], list[object]]:
    """WHERE terms for a report's filter (every value a bound parameter)."""
    where, args = _range(f.since, f.until)
    for field, column in _FILTER_COLUMNS:
        value = getattr(f, field)
        if isinstance(value, tuple):  # any of several spellings
            where.append(f"{column} IN ({', '.join('?' * len(value))})")
            args.extend(value)
        elif value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    phones = f.phone if isinstance(f.phone, tuple) else (f.phone,)
    if f.phone is not None and "" not in phones:
        # Implies audit_phone's WHERE, as a literal the planner can match
        # (neither SQLite nor a generic PostgreSQL plan looks inside a parameter).
        where.append("phone <> ''")
    return where, args


def daily_counts(values: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """audit_daily's increments for audit rows as _audit_values gives them
    (the time already in epoch seconds: epoch_day without a second
    conversion per row), in one lock order for every writer."""
    times: list[float] = [v[0] for v in values]  # type: ignore[misc]
    first, last = int(min(times) // 86400), int(max(times) // 86400)
    if first == last:  # a batch within one UTC day (all but one a day): counted in C, no key built per row
        daily = Counter(map(_DAILY_KEY, values))
        return [(first, *key, n) for key, n in sorted(daily.items())]
    spread = Counter((int(v[0] // 86400), v[2], v[6], v[7]) for v in values)  # type: ignore[operator]
    return [(*key, n) for key, n in sorted(spread.items())]


_DAILY_KEY = itemgetter(2, 6, 7)  # client_name, factor, result


class AuditSql(SqlBase):
    # -- audit -------------------------------------------------------------------

    async def purge_audit(self, *, before: datetime) -> int:
        # In batches, each its own statement and transaction, so logins get the
        # write lock between them instead of waiting out millions of deletes.
        total = 0
        while True:
            deleted = await self._execute(
                "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ? LIMIT ?)",
                to_epoch(before),
                AUDIT_PURGE_BATCH,
            )
            total += deleted
            if deleted < AUDIT_PURGE_BATCH:
                break
        # Daily counts go by whole days: the day ``before`` falls in stays
        # until a later purge takes the whole of it.
        await self._execute("DELETE FROM audit_daily WHERE day < ?", epoch_day(before))
        return total

    async def write_audit(self, rows: Sequence[AuditRecord]) -> None:
        if not rows:
            return
        # The rows and the daily counts they add to, in one transaction: the
        # usage report never disagrees with the audit log it summarises.
        values = self._audit_values(rows)
        whole = len(values) - len(values) % AUDIT_ROWS_PER_INSERT
        steps: list[tuple[str, Sequence[Sequence[object]]]] = [
            (  # AUDIT_ROWS_PER_INSERT rows a statement, then the rest one a statement
                _INSERT_AUDIT_ROWS,
                [list(chain.from_iterable(values[i : i + AUDIT_ROWS_PER_INSERT]))
                 for i in range(0, whole, AUDIT_ROWS_PER_INSERT)],
            ),
            (f"INSERT INTO audit ({_AUDIT}) VALUES ({_AUDIT_PLACES})", values[whole:]),
            (
                "INSERT INTO audit_daily (day, client_name, factor, result, n) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (day, client_name, factor, result) DO UPDATE SET n = audit_daily.n + excluded.n",
                daily_counts(values),
            ),
        ]
        await self._execute_each([step for step in steps if step[1]])

    @staticmethod
    def _audit_values(rows: Sequence[AuditRecord]) -> list[tuple[object, ...]]:
        # An AuditRecord is a tuple in the column order already: only its
        # time changes form.
        return [(to_epoch(r[0]),) + r[1:] for r in rows]

    async def query_audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        limit: int | None = None,
        phone: str | tuple[str, ...] | None = None,
        result: str | None = None,
        client: str | None = None,
        method: str | None = None,
    ) -> list[AuditRecord]:
        """Oldest first; ``since`` is inclusive, ``until`` exclusive; ``limit``
        keeps the newest N (what an admin asking for "the last 50" means)."""
        where, args = audit_where(AuditFilter(since, until, username, phone, result, client, method))
        filters = " WHERE " + " AND ".join(where) if where else ""
        if limit is None:
            sql = f"SELECT {_AUDIT} FROM audit{filters} ORDER BY time, id"
        else:
            newest = f"SELECT id, {_AUDIT} FROM audit{filters} ORDER BY time DESC, id DESC LIMIT ?"
            sql = f"SELECT {_AUDIT} FROM ({newest}) AS newest ORDER BY time, id"
            args.append(limit)
        rows = await self._fetch(sql, *args)
        return [AuditRecord(from_epoch(r[0]), *tuple(r)[1:]) for r in rows]

    def audit_pages(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        limit: int | None = None,
        phone: str | tuple[str, ...] | None = None,
        result: str | None = None,
        client: str | None = None,
        method: str | None = None,
        page: int = PAGE_ROWS,
    ) -> AsyncIterator[list[AuditRecord]]:
        """query_audit's rows, ``page`` at a time (an export of millions of
        rows holds one page in memory)."""
        where, args = audit_where(AuditFilter(since, until, username, phone, result, client, method))
        return self._records(self._pages("audit", _AUDIT, where, args, limit=limit, page=page),
                             lambda r: AuditRecord(from_epoch(r[0]), *r[1:]))

    async def _pages(
        self, table: str, columns: str, where: list[str], args: list[object], *, limit: int | None, page: int
    ) -> AsyncIterator[list[Row]]:
        """``columns`` (``time`` first) of the rows of ``table`` matching
        ``where``, oldest first, each page one statement starting after the
        (time, id) the last one ended at: a range over the same index as
        one query, never an OFFSET that rereads what came before. The rows
        are those there when it starts (ids up to the highest then: rows
        written meanwhile are left out, as one query would have left them);
        with ``limit``, the newest ``limit`` of those."""
        cap = (await self._fetch(f"SELECT MAX(id) FROM {table}"))[0][0]
        if cap is None:
            return
        match = " AND ".join([*where, "id <= ?"])
        args = [*args, cap]
        start: tuple[object, object, str] | None = None
        if limit is not None:  # from the limit-th newest, inclusive
            sql = f"SELECT time, id FROM {table} WHERE {match} ORDER BY time DESC, id DESC LIMIT 1 OFFSET ?"
            first = await self._fetch(sql, *args, limit - 1)
            start = (first[0][0], first[0][1], ">=") if first else None
        while True:
            sql, step_args = match, list(args)
            if start is not None:
                sql += f" AND time >= ? AND (time > ? OR id {start[2]} ?)"
                step_args += [start[0], start[0], start[1]]
            rows = await self._fetch(
                f"SELECT id, {columns} FROM {table} WHERE {sql} ORDER BY time, id LIMIT ?", *step_args, page
            )
            if rows:
                yield [tuple(r)[1:] for r in rows]
            if len(rows) < page:
                return
            start = (rows[-1][1], rows[-1][0], ">")

    @staticmethod
    async def _records(pages: AsyncIterator[list[Row]], make: Callable[[Row], _T]) -> AsyncIterator[list[_T]]:
        async for rows in pages:
            yield [make(r) for r in rows]

    # -- admin log ---------------------------------------------------------------

    async def write_admin_event(self, event: AdminEvent) -> None:
        await self._execute(
            f"INSERT INTO admin_events ({_ADMIN}) VALUES (?, ?, ?, ?, ?)",
            to_epoch(event.time),
            event.actor,
            event.action,
            event.target,
            event.detail,
        )

    async def query_admin_events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AdminEvent]:
        where, args = _range(since, until)
        filters = " WHERE " + " AND ".join(where) if where else ""
        sql = f"SELECT id, {_ADMIN} FROM admin_events{filters} ORDER BY time DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = await self._fetch(sql, *args)
        return [AdminEvent(from_epoch(r[1]), r[2], r[3], r[4], r[5]) for r in reversed(rows)]

    def admin_event_pages(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        page: int = PAGE_ROWS,
    ) -> AsyncIterator[list[AdminEvent]]:
        """query_admin_events' rows, ``page`` at a time."""
        where, args = _range(since, until)
        return self._records(self._pages("admin_events", _ADMIN, where, args, limit=limit, page=page),
                             lambda r: AdminEvent(from_epoch(r[0]), *r[1:]))
