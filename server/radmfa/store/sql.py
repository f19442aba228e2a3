"""SqlStore: the Store both backends share, composed of one mixin per domain.

A backend (sqlite.py, postgres.py) subclasses SqlStore and provides the four
primitives of SqlBase; everything else is the same SQL text on both.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Sequence
from datetime import datetime
from types import MappingProxyType

from radmfa.core.model import Attr, Claimed, CodeClaim, ExemptionView, Session, Token, User
from radmfa.core.policy import decode_name, name_key
from radmfa.store.codec import from_epoch, to_epoch
from radmfa.store.sql_audit import AUDIT_PURGE_BATCH, AuditSql
from radmfa.store.sql_base import Row, Statement
from radmfa.store.sql_directory import DirectorySql
from radmfa.store.sql_exemptions import ExemptionsSql, success_steps
from radmfa.store.sql_fraud import FraudSql
from radmfa.store.sql_hardware import HardwareTokensSql
from radmfa.store.sql_health import HealthSql
from radmfa.store.sql_limits import LimitsSql
from radmfa.store.sql_messages import MessagesSql
from radmfa.store.sql_nas_sessions import NasSessionsSql
from radmfa.store.sql_oob import OobSql
from radmfa.store.sql_portal import PortalSql
from radmfa.store.sql_push import PushStreakSql
from radmfa.store.sql_rebinds import RebindsSql
from radmfa.store.sql_reports import ReportsSql
from radmfa.store.sql_sessions import TAKE_SESSION_SQL, SessionsSql
from radmfa.store.sql_settings import SettingsSql, UserSearchSql
from radmfa.store.sql_users import (
    LOGIN_VIEW_COLUMNS,
    LOGIN_VIEW_SQL,
    PACKED_VIEW_COLUMNS,
    UsersSql,
    login_view_sql,
)

# ruff: noqa: S608  (statements from column lists; every value is a parameter)

__all__ = ["AUDIT_PURGE_BATCH", "Row", "SqlStore", "Statement"]


# claim_code's two single-use steps. The session: only the row this process
# stored (its ciphertext, fresh at every put), before it expires. Parameters:
# state, ciphertext, time.
CLAIM_SESSION_SQL = "DELETE FROM sessions WHERE state = ? AND reply_enc = ? AND expires_at > ? RETURNING state"
# The step: consume_otp_step's compare-and-set, and only while the token is
# not locked (OtpFactor.locked on the row as it is now) and the user is in
# the state the code was checked in (token ids and seeds never change).
# Parameters: step, token id, user id, step, max failures, failures since,
# user id, user state.
CLAIM_STEP_SQL = (
    "UPDATE tokens SET last_step = ?, fail_count = 0 WHERE id = ? AND user_id = ? "
    "AND (last_step IS NULL OR last_step < ?) AND (fail_count < ? OR failed_at IS NULL OR failed_at <= ?) "
    "AND EXISTS (SELECT 1 FROM users WHERE id = ? AND state = ?) RETURNING id"
)


def claim_steps(claim: CodeClaim, sealed: bytes) -> tuple[list[Statement], list[Statement]]:
    """claim_code as _fetch_chain's steps and what follows them."""
    success = claim.success
    at = to_epoch(success.now)
    steps: list[Statement] = [
        (CLAIM_SESSION_SQL, (claim.state, sealed, at)),
        (CLAIM_STEP_SQL, (claim.step, claim.token_id, claim.user_id, claim.step, claim.max_failures,
                          to_epoch(claim.failures_since), claim.user_id, str(claim.user_state))),
    ]
    writes = success_steps(success.user_id, success.scopes, success.station, success.client, at)
    return steps, [(sql, row) for sql, rows in writes for row in rows]


_CLAIMED = (Claimed.GONE, Claimed.TAKEN, Claimed.ACCEPTED)
# A login's exemptions when the store holds none for it (no open bypass, no
# cache time, no remembered device), which is most logins: one value for all,
# read-only through and through (it equals ExemptionView()).
_NONE_STORED = ExemptionView(False, MappingProxyType({}), None)
_GONE = Claimed.GONE  # a global: core/model.py says why


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
    HealthSql,
    PushStreakSql,
    SettingsSql,
    UserSearchSql,
):
    """Implements core.admin_ports.Store (both sides) over the primitives a backend provides."""

    async def login_exemption_view(
        self, username: str, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> tuple[User | None, list[Token], ExemptionView]:
        # login_view's statement with exemption_view's answers as more columns
        # (the same on every row): one read for the whole of a login's store
        # state. The text depends only on how many scopes and whether a
        # station is asked about: built once for each (a config asks one or two).
        at = to_epoch(now)
        n = len(scopes)
        args: list[object] = [at, at, *scopes]
        if station:
            args += [station, client]
        args.append(name_key(username))
        packed = self._packed_view_sql
        sql = _exemption_view_sql(n, bool(station), packed)
        rows = self._read_now(sql, args)  # SQLite: on this thread, no coroutine made for the read
        if rows is None:
            rows = await self._fetch(sql, *args)
        if packed:
            user, tokens, bypass = self._packed_view(rows)
            skip = PACKED_VIEW_COLUMNS
        else:
            user, tokens = self._view(rows)
            bypass = bool(rows) and bool(rows[0][LOGIN_VIEW_COLUMNS])
            skip = LOGIN_VIEW_COLUMNS + 1
        if not rows:
            return user, tokens, _NONE_STORED
        extra = rows[0][skip:]  # each scope's cache time, then the remembered station's
        cache: dict[str, datetime] = {}
        if n:
            cache = {scope: from_epoch(t) for scope, t in zip(scopes, extra[:n], strict=True) if t is not None}
        remembered = extra[-1] if station else None
        if not (bypass or cache or remembered is not None):
            return user, tokens, _NONE_STORED
        device = None if remembered is None else from_epoch(remembered)
        return user, tokens, ExemptionView(bypass, cache, device)

    def claim_code(self, claim: CodeClaim) -> Awaitable[Claimed]:
        return self._claim_code(claim)

    async def _claim_code(self, claim: CodeClaim) -> Claimed:
        # The second leg of a login answered in the process that asked: one
        # transaction instead of take_session_view and consume_otp_step.
        opened = self._opened.pop(claim.state, None)
        if opened is None:
            return Claimed.UNKNOWN
        steps, then = claim_steps(claim, opened[0])
        return self._claimed(claim.state, opened, await self._fetch_chain(steps, then))

    def _claimed(self, state: bytes, opened: tuple[bytes, tuple[Attr, ...]], done: int) -> Claimed:
        claimed = _CLAIMED[done]
        if claimed is _GONE:  # not taken: whoever takes it may still use what was kept
            self._opened[state] = opened
        return claimed

    async def take_session_view(
        self, state: bytes, *, now: datetime, username: str | None = None
    ) -> tuple[Session | None, User | None, list[Token]]:
        # Answering a challenge needs the session and its user's tokens: one
        # trip to the store, not two (this is every second leg of a login).
        # ``username``: the request's name, already decoded; a session opened
        # for another User-Name is refused by the caller, whoever it reads.
        def view(row: Row) -> Statement | None:
            name = decode_name(bytes(row[1])) if username is None else username  # else the session's
            return None if name is None else (LOGIN_VIEW_SQL, (name_key(name),))

        row, rows = await self._fetch_pair(
            (TAKE_SESSION_SQL, (state,)), view
        )
        found = self._session(state, row, now=now) if row is not None else None
        if found is None:
            return None, None, []
        user, tokens = self._view(rows)
        return found, user, tokens


@functools.cache
def _exemption_view_sql(scopes: int, station: bool, packed: bool = False) -> str:
    """login_exemption_view's statement for ``scopes`` cache scopes, with or
    without a station, on login_view's plain or packed columns; parameters:
    the time twice, each scope, station and client (with a station), the
    name_key. The open bypass is the first column after login_view's, or,
    packed, the first value of the user's array; each scope's cache time
    and the remembered station's time follow, as columns."""
    bypass = (
        "EXISTS (SELECT 1 FROM bypasses b WHERE b.user_id = u.id AND b.used_at IS NULL "
        "AND b.cancelled_at IS NULL AND b.created_at <= ? AND b.expires_at > ?)"
    )
    columns = [] if packed else [bypass]
    columns += ["(SELECT c.passed_at FROM mfa_cache c WHERE c.user_id = u.id AND c.scope = ?)"] * scopes
    if station:
        # The NAS is part of the match, as in exemption_view.
        columns.append(
            "(SELECT d.remembered_at FROM remembered_devices d "
            "WHERE d.user_id = u.id AND d.station = ? AND d.client = ?)"
        )
    if packed:  # short names: the cursor's description decodes each column's name on every execute
        columns = [f"{column} AS x{i}" for i, column in enumerate(columns)]
        return login_view_sql(", ".join(columns), packed=True, bypass=bypass)
    return login_view_sql(", ".join(columns))
