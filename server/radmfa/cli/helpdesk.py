"""`radmfa user unblock|reset`: the helpdesk's controls (registered with the
other `user` commands by cli/users.py; `fraud set-status --unblock` uses
``unblock`` too)."""

from __future__ import annotations

import argparse
import shlex

from radmfa.cli import adminlog, session
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.core.admin_ports import AdminStore
from radmfa.core.methods import mask
from radmfa.core.model import User, UserState
from radmfa.errors import no_such_user
from radmfa.reports.rows import format_time
from radmfa.service.disconnect import Outcome


def state_text(user: User) -> str:
    if user.state is not UserState.BLOCKED:
        return user.state.value
    until = f" until {format_time(user.blocked_until)}" if user.blocked_until else ""
    return f"blocked{until} ({user.blocked_reason or 'no reason given'})"


async def unblock(store: AdminStore, name: str, *, by: str | None = None) -> tuple[User, User]:
    """Lift the user's block (user unblock, fraud set-status --unblock): back
    to the state before it, failure count cleared, admin log written. The
    same user twice when there was no block (nothing changes)."""
    before = await store.get_user(name)
    if before is None:
        raise no_such_user(name)
    if before.state is not UserState.BLOCKED:
        return before, before  # nothing to lift: what the command asks for holds already
    # Back to the state before the block (enabled when not known).
    restored = before.state_before_block or UserState.ENABLED
    changes = {"state": restored, "blocked_until": None, "blocked_reason": None, "state_before_block": None}
    user = await store.update_user(name, changes)
    if user is None:
        raise no_such_user(name)
    await store.clear_mfa_failures(user.id)
    await adminlog.record(store, "user.unblock", user.name, f"was={before.blocked_reason or ''}", by=by)
    return before, user


def unblocked_text(before: User, user: User) -> str:
    if before is user:
        return f'user "{user.name}" is not blocked (state {user.state.value}); nothing to do'
    return f'unblocked user "{user.name}" (was {state_text(before)}); state is now {user.state.value}'


async def clear_push_block(store: AdminStore, name: str, *, by: str | None = None) -> bool:
    """Forget the user's push deny streak (core/push_guard.py), so pushes go
    out again; admin log written when there was one."""
    cleared = await store.clear_push_streak(name)
    if cleared:
        await adminlog.record(store, "user.unblock", name, "push deny streak", by=by)
    return cleared


async def reset(store: AdminStore, name: str, *, by: str | None = None) -> tuple[int, User]:
    """Remove the user's tokens, remembered devices and cached logins (user
    reset, the management portal): how many tokens, and the user."""
    user = await store.get_user(name)
    if user is None:
        raise no_such_user(name)
    count = await store.reset_user(name)
    await adminlog.record(store, "user.reset", user.name, f"tokens={count}", by=by)
    return count, user


def state_changes(before: User, state: UserState) -> dict[str, object]:
    """The columns that set ``state``: a block set by an administrator lasts
    until lifted, any other state ends a block, and what `user unblock`
    restores (the state before the first block) is kept."""
    keep = before.state_before_block if before.state is UserState.BLOCKED else before.state
    return {
        "state": state, "blocked_until": None,
        "blocked_reason": "set by an administrator" if state is UserState.BLOCKED else None,
        "state_before_block": keep if state is UserState.BLOCKED else None,
    }


async def set_state(store: AdminStore, name: str, state: UserState, *, by: str | None = None,
                    detail: str = "") -> User:
    """The user's state (user set --state, the management portal): a block
    set here lasts until lifted; any other state ends a block; what `user
    unblock` restores is kept."""
    before = await store.get_user(name)
    if before is None:
        raise no_such_user(name)
    user = await store.update_user(name, state_changes(before, state))
    if user is None:
        raise no_such_user(name)
    await adminlog.record(store, "user.set", user.name, detail or f"state={state}", by=by)
    return user


def cmd_unblock(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> tuple[User, User, bool]:
        before, after = await unblock(store, args.name)
        return before, after, await clear_push_block(store, args.name)

    before, after, cleared = run_with_store(cfg, work)
    if cleared:
        print(f'cleared the push deny streak of user "{after.name}": pushes go out again')
    if not cleared or before is not after:
        print(unblocked_text(before, after))
    return 0


def cmd_reset(args: argparse.Namespace, cfg: Config) -> int:
    async def work(store: AdminStore) -> tuple[int, User, list[Outcome]]:
        count, user = await reset(store, args.name)
        # A reset is for a lost or stolen phone: end the sessions it may hold.
        return count, user, await session.end_for(cfg, store, user.name, "user reset")

    count, user, ended = run_with_store(cfg, work)
    print(f'reset user "{args.name}": removed {count} token{"" if count == 1 else "s"}, '
          "remembered devices and cached logins; the user enrolls again")
    kept = _phone_methods_kept(user)
    if kept:
        print(kept)
    session.print_outcomes(ended)
    return 0


def _phone_methods_kept(user: User) -> str:
    """A lost phone keeps its SIM and its mail app: say which phone methods
    still reach it (reset removes tokens only; the profile is the directory's)."""
    on_file = [f"mobile {mask(user.mobile)}" if user.mobile else "", f"e-mail {user.email}" if user.email else ""]
    on_file = [item for item in on_file if item]
    if not on_file:
        return ""
    return (
        f"still on file: {', '.join(on_file)}: texts, calls and e-mailed codes still go there. If the phone is "
        f"lost, clear them: radmfa user set {shlex.quote(user.name)} --mobile '' --email '' "
        "(directory sync fills them again from the directory)"
    )
