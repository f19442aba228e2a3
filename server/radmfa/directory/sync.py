"""Directory sync: users from LDAP / AD into the store, on demand or on a schedule.

Safety rules (docs/directory.md):
* only users the sync created (users.source = 'directory') are ever updated
  or blocked; users an administrator added are never touched;
* a user who left the directory is *blocked* (reason "left directory"), not
  deleted: deleted, they would be unknown, and with [mfa] unknown_users =
  "password-only" an unknown user gets in on a password alone;
* more leavers in one run than [sync] max_removals blocks none of them until
  an administrator confirms that many (`radmfa sync --confirm-removals N`);
* one run's changes are applied in one transaction;
* a directory read that fails part-way changes nothing (no partial list is
  ever taken for "everyone else left").
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from ldap3 import SUBTREE, Connection
from ldap3.core.exceptions import LDAPException

from radmfa.config import Config, SyncConfig, UpstreamConfig
from radmfa.core.admin_model import AdminEvent
from radmfa.core.admin_ports import AdminStore
from radmfa.core.model import NewUser, User, UserState
from radmfa.core.policy import e164, language_tag, name_key, name_problem
from radmfa.directory import ldapconn as lc
from radmfa.errors import RadmfaError

SOURCE = "directory"

log = structlog.get_logger("radmfa.sync")
LEFT_REASON = "left directory"
PROFILE_FIELDS = ("first_name", "last_name", "email", "mobile", "office_phone", "language")
_PAGED = "1.2.840.113556.1.4.319"  # RFC 2696 simple paged results control


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    name: str
    fields: dict[str, str | None]


@dataclass
class SyncPlan:
    create: list[DirectoryEntry] = field(default_factory=list)
    update: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    block: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)  # leavers not blocked: over max_removals
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what the directory holds wrong (also in skipped)

    def summary(self, *, done: bool) -> str:
        verbs = ("created", "updated", "blocked") if done else ("to create", "to update", "to block")
        created, updated, blocked = verbs
        held = f", {len(self.held_back)} held back" if self.held_back else ""
        return (
            f"{len(self.create)} {created}, {len(self.update)} {updated}, "
            f"{len(self.block)} {blocked} (left the directory){held}"
        )


def plan_sync(
    entries: list[DirectoryEntry], users: list[User], sources: dict[str, str | None], *,
    max_removals: int, confirm_removals: int | None,
) -> SyncPlan:
    """What a sync would do; pure, so the dry run and the real run agree."""
    plan = SyncPlan()
    wanted: dict[str, DirectoryEntry] = {}
    groups: dict[str, list[str]] = {}
    for e in entries:
        if not e.name:
            plan.skipped.append(f"{e.name!r}: no usable user name")
            continue
        problem = name_problem(e.name)
        if problem is not None:  # the directory holds a name no login can match: warned
            plan.problems.append(f"{e.name!r}: user name {problem}; not synced")
            continue
        key = name_key(e.name)
        groups.setdefault(key, []).append(e.name)
        wanted[key] = e
    # Two entries that are one radmfa user (alice@corp, alice@partner): which
    # one wins would depend on the directory's order and could flip between
    # runs. None of them is created or updated; the user is not a leaver either.
    colliding = {key for key, names in groups.items() if len(names) > 1}
    for key in sorted(colliding):
        names = ", ".join(repr(n) for n in groups[key])
        plan.problems.append(f"{names}: one radmfa user name ({key!r}); none of them synced, fix the directory")
        del wanted[key]
    for key, e in list(wanted.items()):
        wanted[key], problems = _valid_fields(e)
        plan.problems += problems
    plan.skipped += plan.problems
    existing = {name_key(u.name): u for u in users}
    for key, e in wanted.items():
        user = existing.get(key)
        if user is None:
            plan.create.append(e)
        elif sources.get(user.name) != SOURCE:
            plan.skipped.append(f"{user.name!r}: added by an administrator, so not managed by sync")
        else:
            changes: dict[str, object] = {f: v for f, v in e.fields.items() if getattr(user, f) != v}
            if user.state is UserState.BLOCKED and user.blocked_reason == LEFT_REASON:
                # Came back: the state from before the block (enabled when not known).
                before = user.state_before_block or UserState.ENABLED
                changes.update(state=before.value, blocked_reason=None, blocked_until=None, state_before_block=None)
            if changes:
                plan.update.append((user.name, changes))
    # A block that ends by itself (lockout, fraud) is no leaver's block: a
    # leaver's app passwords ask no upstream, so they get one until unblocked.
    leavers = [
        u.name for key, u in existing.items()
        if key not in wanted and key not in colliding and sources.get(u.name) == SOURCE
        and not (u.state is UserState.BLOCKED and u.blocked_until is None)
    ]
    # Confirmed by count: the admin approves the plan they saw, and a count
    # that changed since (more people gone) is held back again.
    if len(leavers) > max_removals and confirm_removals != len(leavers):
        plan.held_back = leavers
    else:
        plan.block = leavers
    return plan


def _valid_fields(e: DirectoryEntry) -> tuple[DirectoryEntry, list[str]]:
    """``e`` without the values radmfa could not use (a phone number that is
    not E.164, a language that is no tag): such a field is left as it is in
    the store, and the plan says why."""
    fields = dict(e.fields)
    problems = []
    for field_name, check in (("mobile", e164), ("office_phone", e164), ("language", language_tag)):
        value = fields.get(field_name)
        if value is None:
            continue
        try:
            fields[field_name] = check(value)
        except ValueError as error:
            del fields[field_name]
            problems.append(f"{e.name!r} {field_name}: {error}; field not synced")
    return DirectoryEntry(e.name, fields), problems


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip() if value is not None else ""
    return text or None


def read_directory(sync: SyncConfig, upstream: UpstreamConfig) -> list[DirectoryEntry]:
    """Every entry matching [sync] filter, all pages, from the first server
    that answers; raises RadmfaError rather than return a partial list."""
    ldap = upstream.ldap
    assert ldap is not None
    context = lc.tls_context(ldap)
    errors = []
    for server in ldap.servers:
        try:
            conn = lc.connect(server, ldap, context, upstream.timeout_s)
        except lc.ServerFailed as e:
            errors.append(str(e))
            continue
        try:
            code = lc.simple_bind(conn, ldap.bind_dn, ldap.bind_password)
            if code != lc.SUCCESS:
                raise RadmfaError(f"directory sync: {server.url} refused the service account (LDAP result {code})")
            return _paged_entries(conn, sync, sync.base_dn or ldap.base_dn)
        except lc.ServerFailed as e:
            errors.append(f"{server.url}: {e}")
        finally:
            lc.close(conn)
    raise RadmfaError(f"directory sync: no LDAP server answered ({'; '.join(errors)}); nothing was changed")


def _paged_entries(conn: Connection, sync: SyncConfig, base: str) -> list[DirectoryEntry]:
    attrs = sync.attributes
    out: list[DirectoryEntry] = []
    cookie: bytes | None = None
    while True:
        try:
            conn.search(base, sync.filter, search_scope=SUBTREE, attributes=list(attrs.values()),
                        paged_size=sync.page_size, paged_cookie=cookie)
        except LDAPException as e:  # socket, TLS: the next server, like any failure
            raise lc.ServerFailed(f"search failed: {e}") from None
        result = conn.result or {}
        if result.get("result") != lc.SUCCESS:
            raise lc.ServerFailed(f"search failed: {result.get('description', 'connection lost')}")
        for r in conn.response or []:
            if r.get("type") != "searchResEntry":
                continue
            values = {k.lower(): v for k, v in r.get("attributes", {}).items()}
            name = _first(values.get(attrs["user_name"].lower())) or ""
            fields = {f: _first(values.get(attrs[f].lower())) for f in PROFILE_FIELDS}
            out.append(DirectoryEntry(name, fields))
        control = (result.get("controls") or {}).get(_PAGED) or {}
        cookie = (control.get("value") or {}).get("cookie")
        if not cookie:
            return out


async def apply_plan(store: AdminStore, plan: SyncPlan) -> None:
    """The plan in one store transaction: a failure changes nothing. A
    leaver's block keeps the state from before it, for a return."""
    await store.apply_directory_changes(
        [NewUser(e.name, **e.fields) for e in plan.create],  # type: ignore[arg-type]
        plan.update,
        plan.block,
        source=SOURCE,
        reason=LEFT_REASON,
    )


async def run_sync(
    config: Config, store: AdminStore, *, dry_run: bool = False, confirm_removals: int | None = None,
    actor: str = "radmfa sync", max_removals: int | None = None,
) -> SyncPlan:
    """``max_removals`` (default: [sync] max_removals) below it: 0 makes every
    leaver wait for ``confirm_removals`` to equal their count."""
    sync = config.sync
    if not sync.upstream:
        raise RadmfaError(f"{config.path.name}: [sync] upstream: no LDAP upstream to sync from")
    upstream = config.upstream if sync.upstream == "default" else config.upstreams[sync.upstream]
    entries = await asyncio.to_thread(read_directory, sync, upstream)
    plan = plan_sync(
        entries, await store.list_users(), await store.user_sources(),
        max_removals=sync.max_removals if max_removals is None else max_removals, confirm_removals=confirm_removals,
    )
    if not dry_run:
        await apply_plan(store, plan)
        await store.record_sync_result("directory", at=datetime.now(UTC), actor=actor, result=plan.summary(done=True))
        if plan.create or plan.update or plan.block or plan.held_back:
            event = AdminEvent(datetime.now(UTC), actor, "directory.sync", sync.upstream, plan.summary(done=True))
            await store.write_admin_event(event)
    return plan


async def scheduled_sync(config: Config, store: AdminStore, *, now: datetime) -> SyncPlan | None:
    """Run the sync if it is due and this worker won the claim (one worker of
    one node per period); never raises: the service logs and goes on."""
    interval = config.sync.every_minutes * 60
    try:
        if not await store.claim_sync_run("directory", now=now, interval_s=interval):
            return None
        plan = await run_sync(config, store, actor="radmfa service")
    except Exception as e:
        log.warning("directory sync failed", error=str(e))
        return None
    log.info("directory sync", result=plan.summary(done=True), skipped=len(plan.skipped))
    if plan.problems:  # name collisions, numbers that are not E.164: the directory needs fixing
        log.warning("directory sync skipped values", count=len(plan.problems), first=plan.problems[:10])
    if plan.held_back:
        log.warning(
            "directory sync held back removals: more users left than [sync] max_removals; "
            "run 'radmfa sync --dry-run', then 'radmfa sync --confirm-removals N' with N the leavers it lists",
            leavers=len(plan.held_back), max_removals=config.sync.max_removals,
        )
    return plan


async def sync_loop(config: Config, store: AdminStore, *, poll_s: float = 30.0) -> None:
    """The service's schedule: ask every ``poll_s`` whether a sync is due."""
    while True:
        with contextlib.suppress(Exception):
            await scheduled_sync(config, store, now=datetime.now(UTC))
        await asyncio.sleep(poll_s)
