"""Contract: user profile fields, update_user and the admin log (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core.admin_model import AdminEvent
from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser, UserState

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def test_new_user_profile_round_trip(store: Store) -> None:
    added = await store.add_user(
        NewUser(
            "alice",
            mobile="+14155550100",
            office_phone="+14155550199",
            language="de-CH",
            default_method="push",
            state=UserState.ENFORCED,
        )
    )
    got = await store.get_user("ALICE")
    assert got == added
    assert got.state is UserState.ENFORCED and got.blocked_until is None


async def test_update_user_sets_only_given_fields(store: Store) -> None:
    await store.add_user(NewUser("bob", email="b@example.org", mobile="+14155550100"))
    until = NOW + timedelta(minutes=15)
    changed = await store.update_user(
        "CORP\\bob",
        {"state": UserState.BLOCKED, "blocked_until": until, "blocked_reason": "lockout", "mobile": None},
    )
    assert changed is not None
    assert changed.state is UserState.BLOCKED and changed.blocked_until == until
    assert changed.blocked_reason == "lockout" and changed.mobile is None
    assert changed.email == "b@example.org"  # untouched
    assert await store.get_user("bob") == changed


async def test_update_user_keeps_tokens_in_login_view(store: Store) -> None:
    await store.add_user(NewUser("carol"))
    await store.add_token("carol", NewToken("totp", b"k" * 20))
    await store.update_user("carol", {"language": "fr"})
    user, tokens = await store.login_view("carol")
    assert user is not None and user.language == "fr" and len(tokens) == 1 and tokens[0].secret == b"k" * 20


async def test_update_user_missing_and_unknown_field(store: Store) -> None:
    assert await store.update_user("nobody", {"language": "en"}) is None
    await store.add_user(NewUser("dave"))
    with pytest.raises(ValueError, match="password_hash"):
        await store.update_user("dave", {"password_hash": "x"})
    with pytest.raises(ValueError, match="name"):
        await store.update_user("dave", {"name": "root"})


async def test_admin_events_in_order_with_range_and_limit(store: Store) -> None:
    for minute, action in enumerate(("user.add", "token.add", "user.set", "user.delete")):
        await store.write_admin_event(AdminEvent(NOW + timedelta(minutes=minute), "root", action, "alice", "x=1"))
    events = await store.query_admin_events()
    assert [e.action for e in events] == ["user.add", "token.add", "user.set", "user.delete"]
    assert events[0] == AdminEvent(NOW, "root", "user.add", "alice", "x=1")
    ranged = await store.query_admin_events(since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=3))
    assert [e.action for e in ranged] == ["token.add", "user.set"]
    newest = await store.query_admin_events(limit=2)
    assert [e.action for e in newest] == ["user.set", "user.delete"]
