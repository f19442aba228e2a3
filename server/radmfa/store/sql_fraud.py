"""Fraud reports, in the SQL both backends share."""

# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from radmfa.core.model import FRAUD_STATUSES, FraudReport
from radmfa.core.policy import name_key
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_base import SqlBase

_FRAUD = "time, username, source, client_name, calling_station_id, phone, device, status, note"


class FraudSql(SqlBase):
    async def add_fraud_report(self, report: FraudReport) -> FraudReport:
        # The name as the store knows it (name_key), so list --user finds every spelling.
        rows = await self._fetch(
            f"INSERT INTO fraud_reports ({_FRAUD}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            to_epoch(report.time),
            name_key(report.username),
            report.source,
            report.client_name,
            report.calling_station_id,
            report.phone,
            report.device,
            report.status,
            report.note,
        )
        return FraudReport(
            report.time,
            name_key(report.username),
            report.source,
            report.client_name,
            report.calling_station_id,
            report.phone,
            report.device,
            report.status,
            report.note,
            id=int(rows[0][0]),
        )

    async def list_fraud_reports(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        phone: str | None = None,
        status: str | None = None,
    ) -> list[FraudReport]:
        where: list[str] = []
        args: list[object] = []
        for column, op, value in (
            ("time", ">=", None if since is None else to_epoch(since)),
            ("time", "<", None if until is None else to_epoch(until)),
            ("username", "=", None if username is None else name_key(username)),
            ("phone", "=", phone),
            ("status", "=", status),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        filters = " WHERE " + " AND ".join(where) if where else ""
        rows = await self._fetch(f"SELECT id, {_FRAUD} FROM fraud_reports{filters} ORDER BY time, id", *args)
        return [
            FraudReport(from_epoch(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], id=int(r[0]))
            for r in rows
        ]

    async def set_fraud_status(self, report_id: int, status: str) -> bool:
        if status not in FRAUD_STATUSES:
            raise ValueError(f"not a fraud status: {status!r}")
        return await self._execute("UPDATE fraud_reports SET status = ? WHERE id = ?", status, report_id) > 0
