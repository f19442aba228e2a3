"""Contract: settings kept in the store and the management portal's accounts (both backends)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewUser
from radmfa.errors import NotFound

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def test_a_change_bumps_the_version_and_is_logged_old_to_new(store: Store) -> None:
    v0 = await store.settings_version()
    assert await store.stored_settings() == (v0, {})
    assert await store.put_setting("mfa.lockout_failures", "3", actor="ann", now=NOW) is None
    assert await store.put_setting("mfa.lockout_failures", "4", actor="bob", now=NOW) == "3"
    assert await store.put_setting("mfa.lockout_failures", "4", actor="bob", now=NOW) == "4"  # no change
    assert await store.stored_settings() == (v0 + 2, {"mfa.lockout_failures": "4"})
    assert await store.put_setting("mfa.lockout_failures", None, actor="ann", now=NOW) == "4"
    assert await store.stored_settings() == (v0 + 3, {})
    events = [(e.actor, e.action, e.target, e.detail) for e in await store.query_admin_events()]
    assert events == [
        ("ann", "setting.set", "mfa.lockout_failures", "(default) → 3"),
        ("bob", "setting.set", "mfa.lockout_failures", "3 → 4"),
        ("ann", "setting.set", "mfa.lockout_failures", "4 → (default)"),
    ]


async def test_import_stores_only_a_never_stored_setting(store: Store) -> None:
    results = await asyncio.gather(*(
        store.import_setting("mfa.new_user", f'"{v}"', actor="radmfa.toml", now=NOW) for v in ("deny", "allow")
    ))
    assert results[0] == results[1]  # one import won; both see its value
    assert await store.import_setting("mfa.new_user", '"enroll"', actor="radmfa.toml", now=NOW) == results[0]
    assert len(await store.query_admin_events()) == 1


async def test_admin_accounts(store: Store) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        await store.add_admin("ghost", "admin", created_by="root", now=NOW)
    await store.add_user(NewUser("Helen"))
    made = await store.add_admin("helen", "helpdesk", created_by="root", now=NOW)
    assert (made.username, made.role, made.created_by) == ("Helen", "helpdesk", "root")
    with pytest.raises(NotFound, match="administrator already"):
        await store.add_admin("HELEN", "admin", created_by="root", now=NOW)
    assert (await store.set_admin_role("helen", "auditor")).role == "helpdesk"  # type: ignore[union-attr]
    assert [(a.username, a.role) for a in await store.list_admins()] == [("Helen", "auditor")]
    assert await store.set_admin_role("nobody", "admin") is None
    assert (await store.remove_admin("helen")).role == "auditor"  # type: ignore[union-attr]
    assert await store.get_admin("helen") is None and await store.remove_admin("helen") is None
    await store.add_admin("helen", "admin", created_by="root", now=NOW)
    await store.delete_user("helen")
    assert await store.list_admins() == []  # the account goes with the user


async def test_user_search_by_the_start_of_name_mobile_or_email(store: Store) -> None:
    await store.add_user(NewUser("Alice", email="Alice.Smith@example.com", mobile="+14155550123"))
    await store.add_user(NewUser("alfred", email="fred@example.org", mobile="+4930123456"))
    await store.add_user(NewUser("bob", email="bob@example.com"))
    await store.add_user(NewUser("ünal"))

    def names(found: list[tuple[str, str, str, str]]) -> list[str]:
        return [f[0] for f in found]

    assert names(await store.search_users("AL")) == ["alfred", "Alice"]  # by name key
    assert names(await store.search_users("alice.s")) == ["Alice"]
    assert names(await store.search_users("+1415")) == ["Alice"]
    assert names(await store.search_users("49 30")) == ["alfred"]
    assert names(await store.search_users("Ün")) == ["ünal"]
    assert names(await store.search_users("fred@")) == ["alfred"]
    assert names(await store.search_users("x%")) == []  # no pattern characters
    assert names(await store.search_users("", limit=2)) == ["alfred", "Alice"]
    assert (await store.search_users("bob"))[0] == ("bob", "", "bob@example.com", "enabled")
