"""Users' sessions on the NASes, from their accounting (core.admin_ports.NasSessionStore)."""

# ruff: noqa: S608  (statements from column lists; every value is a parameter)

from __future__ import annotations

from datetime import datetime

from radmfa.core.admin_model import NasSession
from radmfa.core.policy import name_key
from radmfa.radius import accounting
from radmfa.radius.accounting import AccountingEvent
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import Row, SqlBase

_COLUMNS = (
    "id, client, session_id, username, nas_address, nas_ip, nas_identifier, framed_ip, calling_station_id, "
    "started_at, seen_at, stopped_at, stop_reason"
)
_UPSERT = (
    "INSERT INTO nas_sessions (client, session_id, username, name_key, nas_address, nas_ip, nas_identifier, "
    "framed_ip, calling_station_id, started_at, seen_at, stopped_at, stop_reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (client, session_id) DO UPDATE SET "
    # A Start for a session id seen before is a new session (the NAS reuses ids
    # after a reboot); an Interim or Stop keeps the start and fills what it adds.
    "started_at = CASE WHEN ? THEN excluded.started_at ELSE nas_sessions.started_at END, "
    "username = CASE WHEN excluded.username = '' THEN nas_sessions.username ELSE excluded.username END, "
    "name_key = CASE WHEN excluded.username = '' THEN nas_sessions.name_key ELSE excluded.name_key END, "
    "nas_address = excluded.nas_address, "
    "nas_ip = CASE WHEN excluded.nas_ip = '' THEN nas_sessions.nas_ip ELSE excluded.nas_ip END, "
    "nas_identifier = CASE WHEN excluded.nas_identifier = '' THEN nas_sessions.nas_identifier "
    "ELSE excluded.nas_identifier END, "
    "framed_ip = CASE WHEN excluded.framed_ip = '' THEN nas_sessions.framed_ip ELSE excluded.framed_ip END, "
    "calling_station_id = CASE WHEN excluded.calling_station_id = '' THEN nas_sessions.calling_station_id "
    "ELSE excluded.calling_station_id END, "
    "seen_at = excluded.seen_at, "
    "stopped_at = CASE WHEN ? THEN excluded.stopped_at ELSE nas_sessions.stopped_at END, "
    "stop_reason = CASE WHEN ? THEN excluded.stop_reason ELSE nas_sessions.stop_reason END"
)


class NasSessionsSql(SqlBase):
    async def record_accounting(
        self, client: str, nas_address: str, event: AccountingEvent, *, now: datetime
    ) -> None:
        at = to_epoch(now)
        if event.status in (accounting.ACCOUNTING_ON, accounting.ACCOUNTING_OFF):
            # The NAS restarted or stops: none of its sessions is left (RFC 2866 §5.1).
            await self._execute(
                "UPDATE nas_sessions SET stopped_at = ?, stop_reason = ? WHERE client = ? AND stopped_at IS NULL",
                at, f"accounting-{event.status_name}", client,
            )
            return
        if not event.session_id:
            return  # nothing to key it on (RFC 2866 §5.5: it MUST be present)
        start = event.status == accounting.START
        stop = event.status == accounting.STOP
        # A Start after a Stop for the same id reopens the row; an Interim does not.
        reopen = start
        await self._execute(
            _UPSERT,
            client, event.session_id, event.username, name_key(event.username) if event.username else "",
            nas_address, event.nas_ip, event.nas_identifier, event.framed_ip, event.calling_station_id,
            at, at, at if stop else None, "stop" if stop else "",
            start, stop or reopen, stop or reopen,
        )

    async def list_nas_sessions(self, *, username: str | None = None, live: bool = True) -> list[NasSession]:
        where: list[str] = []
        args: list[object] = []
        if username is not None:
            where.append("name_key = ?")
            args.append(name_key(username))
        if live:
            where.append("stopped_at IS NULL")
        filters = " WHERE " + " AND ".join(where) if where else ""
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM nas_sessions{filters} ORDER BY started_at, id", *args)
        return [_session(r) for r in rows]

    async def end_nas_session(self, session: int, reason: str, *, now: datetime) -> bool:
        changed = await self._execute(
            "UPDATE nas_sessions SET stopped_at = ?, stop_reason = ? WHERE id = ? AND stopped_at IS NULL",
            to_epoch(now), reason, session,
        )
        return changed > 0

    async def purge_nas_sessions(self, *, before: datetime) -> int:
        cut = to_epoch(before)
        return await self._execute(
            "DELETE FROM nas_sessions WHERE (stopped_at IS NOT NULL AND stopped_at < ?) OR seen_at < ?", cut, cut
        )


def _session(r: Row) -> NasSession:
    return NasSession(
        id=int(r[0]), client=r[1], session_id=r[2], username=r[3], nas_address=r[4], nas_ip=r[5],
        nas_identifier=r[6], framed_ip=r[7], calling_station_id=r[8], started_at=from_epoch(r[9]),
        seen_at=from_epoch(r[10]), stopped_at=None if r[11] is None else from_epoch(r[11]), stop_reason=r[12],
    )
