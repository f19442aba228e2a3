"""SqlStore: the Store both backends share, composed of one mixin per domain.

A backend (sqlite.py, postgres.py) subclasses SqlStore and provides the four
primitives of SqlBase; everything else is the same SQL text on both.
"""

from __future__ import annotations

from datetime import datetime

from radmfa.core.model import Session, Token, User
from radmfa.core.policy import decode_name, name_key
from radmfa.store.sql_audit import AUDIT_PURGE_BATCH, AuditSql
from radmfa.store.sql_base import Row, Statement
from radmfa.store.sql_directory import DirectorySql
from radmfa.store.sql_exemptions import ExemptionsSql
from radmfa.store.sql_fraud import FraudSql
from radmfa.store.sql_hardware import HardwareTokensSql
from radmfa.store.sql_limits import LimitsSql
from radmfa.store.sql_messages import MessagesSql
from radmfa.store.sql_nas_sessions import NasSessionsSql
from radmfa.store.sql_oob import OobSql
from radmfa.store.sql_portal import PortalSql
from radmfa.store.sql_push import PushStreakSql
from radmfa.store.sql_rebinds import RebindsSql
from radmfa.store.sql_reports import ReportsSql
from radmfa.store.sql_sessions import SESSION_COLUMNS, SessionsSql
from radmfa.store.sql_settings import SettingsSql, UserSearchSql
from radmfa.store.sql_users import LOGIN_VIEW_SQL, UsersSql

# ruff: noqa: S608  (statements from column lists; every value is a parameter)

__all__ = ["AUDIT_PURGE_BATCH", "Row", "SqlStore", "Statement"]


class SqlStore(
    HardwareTokensSql,
    UsersSql,
    SessionsSql,
    AuditSql,
    FraudSql,
    MessagesSql,
    LimitsSql,
    DirectorySql,
    ReportsSql,
    ExemptionsSql,
    OobSql,
    RebindsSql,
    PortalSql,
    NasSessionsSql,
    PushStreakSql,
    SettingsSql,
    UserSearchSql,
):
    """Implements core.admin_ports.Store (both sides) over the primitives a backend provides."""

    async def take_session_view(
        self, state: bytes, *, now: datetime
    ) -> tuple[Session | None, User | None, list[Token]]:
        # Answering a challenge needs the session and its user's tokens: one
        # trip to the store, not two (this is every second leg of a login).
        def view(row: Row) -> Statement | None:
            name = decode_name(bytes(row[1]))  # the session's User-Name
            return None if name is None else (LOGIN_VIEW_SQL, (name_key(name),))

        row, rows = await self._fetch_pair(
            (f"DELETE FROM sessions WHERE state = ? RETURNING {SESSION_COLUMNS}", (state,)), view
        )
        found = self._session(state, row, now=now) if row is not None else None
        if found is None:
            return None, None, []
        user, tokens = self._view(rows)
        return found, user, tokens
