"""The administration side of the store, one Protocol per domain, and
``Store``: both sides, what store/ implements (one SQL mixin per domain).

The CLI, the portals' self-service pages, directory sync and housekeeping
depend on these; a login needs only core.ports.LoginStore.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from radmfa.core.admin_model import (
    AdminAccount,
    AdminEvent,
    AuditFilter,
    ComponentHealth,
    EnrollmentLink,
    HardwareToken,
    NasSession,
    RememberedDevice,
    WebSession,
)
from radmfa.core.model import (
    AppPassword,
    AuditRecord,
    Bypass,
    CustomMessage,
    FraudReport,
    NewToken,
    NewUser,
    Token,
    User,
)
from radmfa.core.ports import AuditWriter, BlockStore, LoginStore, MessageLookup, UserLookup
from radmfa.radius.accounting import AccountingEvent


class UserAdmin(UserLookup, Protocol):
    """Users and their tokens. Every method taking a name finds the user by
    core.policy.name_key (case, DOMAIN\\ and @realm ignored); users keep
    their name as added."""

    async def add_user(self, user: NewUser) -> User:
        """Raises AlreadyExists when the name, or another with its name_key, is
        taken, and StoreError when its name_key is empty."""

    async def list_users(self) -> list[User]: ...

    async def delete_user(self, name: str) -> bool:
        """Deletes the user and their tokens; False when there was no such user."""

    async def set_password_hash(self, name: str, password_hash: str | None) -> bool: ...

    async def update_user(self, name: str, changes: Mapping[str, object]) -> User | None:
        """Set profile fields (model.USER_FIELDS; anything else raises
        ValueError) in one statement; the user as it now is, or None."""

    async def add_token(self, username: str, token: NewToken) -> Token:
        """Raises NotFound when the user does not exist."""

    async def list_tokens(self, username: str | None = None) -> list[Token]: ...

    async def delete_token(self, token_id: int) -> bool: ...


class ControlAdmin(BlockStore, Protocol):
    """The admin's controls: one-time bypasses, remembered devices, app
    passwords, blocks and the lockout count (store/sql_exemptions.py)."""

    async def clear_push_streak(self, username: str) -> bool:
        """Forget the user's push deny streak (pushes go out again); True when there was one."""

    # bypasses: rows are kept after use, expiry and cancellation (the report)
    async def create_bypass(
        self, username: str, *, seconds: int, reason: str, created_by: str, now: datetime
    ) -> Bypass:
        """Raises NotFound when the user does not exist."""

    async def list_bypasses(self, username: str | None = None) -> list[Bypass]:
        """Oldest first; deleted users' bypasses too."""

    async def cancel_bypass(self, bypass_id: int, *, now: datetime) -> Bypass | None:
        """Cancel an open bypass; None when there is none open with that id."""

    async def list_devices(self, username: str | None = None) -> list[RememberedDevice]:
        """One user's remembered devices, or (None) everyone's."""

    async def forget_devices(self, username: str, station: str | None = None) -> int:
        """Forget one station, or (None) all the user's devices; either way
        the user's cache entries go too (a "user" rule would let that station
        skip the code as well)."""

    async def add_app_password(
        self, username: str, *, name: str, lookup: str, password_hash: str, limit: int, now: datetime
    ) -> AppPassword:
        """Raises NotFound (no user), AlreadyExists (name or lookup taken) or
        LimitReached (the user has ``limit`` already)."""

    async def list_app_passwords(self, username: str | None = None) -> list[AppPassword]:
        """One user's app passwords, or (None) everyone's; never the hashes' passwords."""

    async def delete_app_passwords(self, username: str, name: str | None = None) -> int:
        """Delete the one named ``name``, or (None) all of the user's."""

    async def clear_mfa_failures(self, user_id: int) -> None: ...

    async def reset_user(self, username: str) -> int:
        """Remove the user's tokens (they enroll again), cache entries,
        remembered devices and failure count; how many tokens went."""


class FraudAdmin(Protocol):
    """Fraud reports, kept for review (never deleted by retention)."""

    async def add_fraud_report(self, report: FraudReport) -> FraudReport:
        """Store it; the report as stored, with its id."""

    async def list_fraud_reports(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        phone: str | None = None,
        status: str | None = None,
    ) -> list[FraudReport]:
        """Oldest first; ``username`` matches by name_key."""

    async def set_fraud_status(self, report_id: int, status: str) -> bool:
        """False when there is no such report."""


class MessageAdmin(MessageLookup, Protocol):
    """Operators' custom messages and voice recordings (seed 000)."""

    async def add_message(self, message: CustomMessage, *, replace: bool = False) -> CustomMessage:
        """Store it (text, or audio with audio_type); the message as stored,
        with its id, without the audio. Raises AlreadyExists when (kind,
        language, client) has a message and ``replace`` is False; with
        ``replace`` the old one is replaced in the same statement."""

    async def list_messages(self, kind: str | None = None) -> list[CustomMessage]:
        """Ordered by kind, language, client; without the audio."""

    async def get_message(self, message_id: int) -> CustomMessage | None:
        """Without the audio."""

    async def delete_message(self, message_id: int) -> bool: ...


class AuditLog(AuditWriter, Protocol):
    """One row per answered request, and one per administrator's change."""

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
        """Oldest first; with ``limit``, the newest N rows. Each filter given
        must match exactly (``client`` the client name, ``method`` the factor);
        ``phone`` may list several spellings (the full and the masked number)."""

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
        page: int = ...,
    ) -> AsyncIterator[list[AuditRecord]]:
        """query_audit's rows in pages of at most ``page``, one statement
        each: the rows up to the newest match when it starts."""

    async def write_admin_event(self, event: AdminEvent) -> None: ...

    async def query_admin_events(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int | None = None
    ) -> list[AdminEvent]:
        """Oldest first; with ``limit``, the newest N rows."""

    def admin_event_pages(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
        page: int = ...,
    ) -> AsyncIterator[list[AdminEvent]]:
        """query_admin_events' rows in pages, as audit_pages."""


class ReportStore(Protocol):
    """Counts over the audit log, aggregated by the database."""

    async def count_audit(
        self,
        filters: AuditFilter,
        by: Sequence[str],
        *,
        most_first: bool = False,
        limit: int | None = None,
    ) -> list[tuple[str | int, ...]]:
        """One row per group: the values of ``by`` (admin_model.AUDIT_GROUPS; "day" as
        whole UTC days since 1970-01-01), then the count. Ordered by the groups,
        or with ``most_first`` by count, highest first; ``limit`` keeps the first N."""

    async def count_daily(
        self,
        by: Sequence[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        client: str | None = None,
        method: str | None = None,
        result: str | None = None,
    ) -> list[tuple[str | int, ...]]:
        """Like ``count_audit`` grouped by some of day, method, result and
        client, from the per-day counts write_audit keeps: fast over a year, in
        whole UTC days (``since``/``until`` widened to the days they fall in)."""


class HardwareTokenStore(Protocol):
    """Hardware OATH tokens imported from a vendor file, then assigned."""

    async def import_hardware_tokens(self, tokens: Sequence[HardwareToken]) -> int:
        """All or nothing, in one transaction. Raises AlreadyExists when a
        serial is already imported or assigned (the message names it)."""

    async def list_hardware_tokens(self) -> list[HardwareToken]:
        """The unassigned ones, by serial."""

    async def assign_hardware_token(self, serial: str, username: str) -> Token:
        """Raises NotFound (no such serial or user) or AlreadyExists (assigned)."""

    async def get_token_by_serial(self, serial: str) -> Token | None: ...


class DirectorySyncStore(Protocol):
    """Who owns each user (NULL: an admin; "directory": `radmfa sync`), and
    the schedule that lets one worker of one node run a sync at a time."""

    async def user_sources(self) -> dict[str, str | None]:
        """Every user's stored name → source."""

    async def set_user_source(self, name: str, source: str | None) -> bool: ...

    async def apply_directory_changes(
        self, create: Sequence[NewUser], updates: Sequence[tuple[str, Mapping[str, object]]],
        block: Sequence[str], *, source: str, reason: str,
    ) -> None:
        """Create users (owned by ``source``; a name taken meanwhile is
        skipped), apply profile changes and block ``block`` for good with
        ``reason`` (as block_user(until=None)), all in one transaction."""

    async def claim_sync_run(self, name: str, *, now: datetime, interval_s: float) -> bool:
        """True for one caller per ``interval_s`` across all workers and nodes
        (compare-and-set on the next run time)."""

    async def record_sync_result(self, name: str, *, at: datetime, actor: str, result: str) -> None:
        """Keep what the run of sync ``name`` just done did (replacing the last one's)."""

    async def last_sync_result(self, name: str) -> tuple[datetime, str, str] | None:
        """When the last run of sync ``name`` was, who ran it, what it did; None before the first."""


class PortalStore(Protocol):
    """The portals' sessions and the administrators' enrollment links."""

    async def put_web_session(self, session: WebSession) -> None:
        """Insert or replace (by id_hash); ``data`` is sealed with the store key."""

    async def get_web_session(self, id_hash: bytes, *, portal: str, now: datetime) -> WebSession | None:
        """None when absent, of another portal or past ``expires_at``."""

    async def touch_web_session(self, id_hash: bytes, *, seen_at: datetime) -> None: ...

    async def delete_web_session(self, id_hash: bytes) -> None: ...

    async def delete_web_sessions_of(self, username: str, *, portal: str) -> int:
        """End every session of the user (found by name_key) in ``portal``."""

    async def purge_web_sessions(self, *, idle_before: datetime, now: datetime) -> int:
        """Delete sessions unused since ``idle_before`` or past their end."""

    async def create_enrollment_link(
        self, username: str, *, token_hash: bytes, created_by: str, now: datetime, expires_at: datetime
    ) -> EnrollmentLink:
        """Raises NotFound when the user does not exist."""

    async def peek_enrollment_link(self, token_hash: bytes, *, now: datetime) -> EnrollmentLink | None:
        """The link when it is open (unused, unexpired), without using it."""

    async def consume_enrollment_link(
        self, token_hash: bytes, *, username: str, now: datetime
    ) -> EnrollmentLink | None:
        """Use the open link of ``username`` (by name_key) in one atomic
        statement: of any number of racing uses, one gets it; None otherwise."""


class RebindStore(Protocol):
    """The LDAP front end's completed binds (front/ldap/rebind.py): one row
    per user and client, holding a keyed hash, never a password."""

    async def remember_rebind(self, name_key: str, client: str, mac: bytes, *, now: datetime) -> None: ...

    async def recent_rebind(self, name_key: str, client: str, *, since: datetime, now: datetime) -> bytes | None:
        """The hash of the bind completed after ``since`` (and not after ``now``), if any."""

    async def forget_rebind(self, name_key: str, client: str) -> None: ...

    async def purge_rebinds(self, *, before: datetime) -> int: ...


class NasSessionStore(Protocol):
    """Who is connected where: sessions from the NASes' accounting."""

    async def record_accounting(
        self, client: str, nas_address: str, event: AccountingEvent, *, now: datetime
    ) -> None:
        """Start and Interim-Update make or refresh the (client, Acct-Session-Id)
        row; Stop ends it; Accounting-On/Off end every live session of the client."""

    async def list_nas_sessions(self, *, username: str | None = None, live: bool = True) -> list[NasSession]:
        """Oldest first; ``username`` matches by name_key; ``live``: not ended."""

    async def end_nas_session(self, session: int, reason: str, *, now: datetime) -> bool:
        """Mark a live session ended (by id); False when it was not live."""

    async def purge_nas_sessions(self, *, before: datetime) -> int:
        """Delete sessions that ended, or were last heard of, before ``before``."""


class HealthStore(Protocol):
    """What each serve process last saw of its upstream servers and providers."""

    async def report_health(self, rows: Sequence[ComponentHealth]) -> None:
        """Insert or replace each row (by node, kind, name)."""

    async def list_health(self) -> list[ComponentHealth]:
        """Every row, by node, kind and name."""

    async def purge_health(self, *, before: datetime) -> int:
        """Delete rows last reported before ``before`` (nodes gone)."""


class Housekeeping(Protocol):
    """What expires, dropped once a minute (service/app.py purge_once)."""

    async def purge_expired(self, *, now: datetime) -> int:
        """Delete challenge sessions past their expiry."""

    async def count_pending(self, *, now: datetime) -> tuple[int, int]:
        """Open challenge sessions, and requests held for a call or push
        (out-of-band sessions awaiting approval), not expired at ``now``."""

    async def purge_oob(self, *, before: datetime) -> int:
        """Delete out-of-band sessions and sent codes that expired before ``before``."""

    async def purge_audit(self, *, before: datetime) -> int:
        """Delete audit rows older than ``before`` (retention), in batches that
        never hold a write lock for long; returns how many went."""

    async def purge_exemptions(self, *, cache_before: datetime, devices_before: datetime) -> int:
        """Delete cache entries and remembered devices too old to matter; how many went."""

    async def purge_send_counters(self, *, now: datetime) -> int:
        """Delete counters whose window ended at or before ``now``."""


class SettingsStore(Protocol):
    """Settings kept in the store (config/stored.py names them), shared by every node."""

    async def settings_version(self) -> int:
        """Bumped by every change: a process reloads when it moved."""

    async def stored_settings(self) -> tuple[int, dict[str, str]]:
        """The version and every stored setting (name → JSON value)."""

    async def put_setting(self, name: str, value: str | None, *, actor: str, now: datetime) -> str | None:
        """Store a value (None: back to the default), bump the version and log
        who changed it from what to what (admin_events), in one transaction;
        returns the value before."""

    async def import_setting(self, name: str, value: str, *, actor: str, now: datetime) -> str:
        """Store a value only if the setting was never stored; the stored value after."""


class UserSearch(Protocol):
    async def search_users(self, query: str, *, limit: int = 50) -> list[tuple[str, str, str, str]]:
        """(name, mobile, e-mail, state) of users whose name, mobile or e-mail starts with ``query``."""


class AdminAccounts(Protocol):
    """The management portal's accounts and their roles."""

    async def add_admin(self, username: str, role: str, *, created_by: str, now: datetime) -> AdminAccount:
        """NotFound when the user does not exist or is an administrator already."""

    async def get_admin(self, username: str) -> AdminAccount | None: ...

    async def list_admins(self) -> list[AdminAccount]: ...

    async def set_admin_role(self, username: str, role: str) -> AdminAccount | None:
        """The account before the change; None when the user is no administrator."""

    async def remove_admin(self, username: str) -> AdminAccount | None:
        """The account removed; None when the user was no administrator."""


class AdminStore(  # bases in LoginStore's order where they share one (a consistent MRO for Store)
    UserAdmin,
    MessageAdmin,
    ControlAdmin,
    FraudAdmin,
    AuditLog,
    ReportStore,
    HardwareTokenStore,
    DirectorySyncStore,
    PortalStore,
    NasSessionStore,
    HealthStore,
    Housekeeping,
    SettingsStore,
    AdminAccounts,
    UserSearch,
    Protocol,
):
    """Everything administration does with the store."""


class Store(LoginStore, AdminStore, RebindStore, Protocol):
    """Persistent state shared by every worker process and node: both sides,
    one SQL mixin per domain in store/."""

    async def migrate(self) -> None:
        """Create or upgrade the schema to the newest version (idempotent)."""

    async def close(self) -> None: ...
