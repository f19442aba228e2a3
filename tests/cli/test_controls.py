"""`radmfa bypass|apppass|device` and `user unblock|reset`, in process, on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from radmfa.core import exemptions
from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, UserState
from radmfa.upstream.passwords import verify_app_password
from tests.cli.conftest import Radmfa, assert_one_line_error


def admin_actions(radmfa: Radmfa) -> list[tuple[str, str, str]]:
    async def work(store: Store) -> list[tuple[str, str, str]]:
        return [(e.action, e.target, e.detail) for e in await store.query_admin_events()]

    return radmfa.store(work)


def test_bypass_create_list_cancel(radmfa: Radmfa) -> None:
    assert radmfa("user", "add", "alice").status == 0
    made = radmfa("bypass", "create", "alice", "--seconds", "300", "--reason", "phone died INC-42")
    assert made.status == 0 and "bypass 1" in made.out and "once" in made.out
    listed = radmfa("bypass", "list", "--format", "csv")
    assert "open" in listed.out and "phone died INC-42" in listed.out
    assert radmfa("bypass", "cancel", "1").status == 0
    assert "cancelled" in radmfa("bypass", "list", "alice").out
    line = assert_one_line_error(radmfa("bypass", "cancel", "1"))
    assert "no open bypass" in line
    assert [a[0] for a in admin_actions(radmfa)][-2:] == ["bypass.create", "bypass.cancel"]
    assert "reason=phone died INC-42" in admin_actions(radmfa)[-2][2]


def test_bypass_refuses_bad_input_and_changes_nothing(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")
    assert_one_line_error(radmfa("bypass", "create", "alice", "--seconds", "0", "--reason", "x"), 2)
    assert_one_line_error(radmfa("bypass", "create", "alice", "--seconds", "604801", "--reason", "x"), 2)
    assert_one_line_error(radmfa("bypass", "create", "alice", "--seconds", "60", "--reason", "  "), 2)
    assert "no such user: bob" in assert_one_line_error(
        radmfa("bypass", "create", "bob", "--seconds", "60", "--reason", "x")
    )
    assert radmfa("bypass", "list").out.strip() == "no bypasses"
    assert [a[0] for a in admin_actions(radmfa)] == ["user.add"]


def test_apppass_create_prints_once_stores_only_a_hash(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")
    made = radmfa("apppass", "create", "alice", "--name", "Laptop")
    assert made.status == 0
    password = made.out.splitlines()[-1]
    assert exemptions.app_password_form(password.encode()) == password
    assert "radmfa settings set mfa.app_passwords true" in made.err  # off by default: say so

    async def stored(store: Store) -> tuple[str, bool]:
        [row] = await store.list_app_passwords("alice")
        return row.password_hash, await verify_app_password(row.password_hash, password)

    password_hash, ok = radmfa.store(stored)
    assert ok and password not in password_hash and password_hash.startswith("$argon2")
    listed = radmfa("apppass", "list", "alice")
    assert "Laptop" in listed.out and "never" in listed.out and password not in listed.out
    assert password not in str(admin_actions(radmfa))
    dup = assert_one_line_error(radmfa("apppass", "create", "alice", "--name", "Laptop"))
    assert "already has" in dup


def test_apppass_create_says_nothing_when_the_store_turned_them_on(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")
    assert radmfa("settings", "set", "mfa.app_passwords", "true").status == 0
    made = radmfa("apppass", "create", "alice", "--name", "Phone")
    assert made.status == 0 and "app passwords are off" not in made.err


def test_apppass_delete_one_and_all(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")
    for name in ("Laptop", "Phone", "Tablet"):
        assert radmfa("apppass", "create", "alice", "--name", name).status == 0
    assert radmfa("apppass", "delete", "alice", "--name", "Phone").status == 0
    assert "no app password named" in assert_one_line_error(radmfa("apppass", "delete", "alice", "--name", "Phone"))
    gone = radmfa("apppass", "delete", "alice", "--all")
    assert gone.status == 0 and "deleted 2 app passwords" in gone.out
    assert radmfa("apppass", "list", "alice").out.strip() == "no app passwords"
    assert_one_line_error(radmfa("apppass", "delete", "alice"), 2)  # --name or --all
    actions = [a[0] for a in admin_actions(radmfa)]
    assert actions.count("apppass.create") == 3 and actions.count("apppass.delete") == 2


def test_apppass_delete_all_also_forgets_devices_and_cached_logins(radmfa: Radmfa) -> None:
    # `delete --all` is the lost-phone command: a remembered phone
    # must not keep skipping the second factor either.
    radmfa("user", "add", "alice")
    radmfa("apppass", "create", "alice", "--name", "Phone")

    async def remember(store: Store) -> None:
        user = await store.get_user("alice")
        await store.record_mfa_success(user.id, scopes=["0:user"], station="192.0.2.7", client="vpn1",
                                       now=datetime.now(UTC))

    radmfa.store(remember)
    gone = radmfa("apppass", "delete", "alice", "--all")
    assert gone.status == 0 and "forgot 1 remembered device" in gone.out

    async def view(store: Store) -> tuple[int, dict[str, object]]:
        user = await store.get_user("alice")
        seen = await store.exemption_view(user.id, scopes=["0:user"], station="", client="vpn1", now=datetime.now(UTC))
        return len(await store.list_devices("alice")), dict(seen.cache)

    assert radmfa.store(view) == (0, {})
    assert "devices=1" in admin_actions(radmfa)[-1][2]


def test_apppass_41st_refused(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")

    async def fill(store: Store) -> None:
        now = datetime.now(UTC)
        for i in range(40):
            await store.add_app_password(
                "alice", name=f"d{i}", lookup=f"Q{i:03d}", password_hash="x", limit=40, now=now
            )

    radmfa.store(fill)
    line = assert_one_line_error(radmfa("apppass", "create", "alice", "--name", "one more"))
    assert "40" in line


def test_device_list_and_forget(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")

    async def remember(store: Store) -> None:
        user = await store.get_user("alice")
        for station in ("192.0.2.7", "192.0.2.8"):
            await store.record_mfa_success(user.id, scopes=[], station=station, client="vpn1", now=datetime.now(UTC))

    radmfa.store(remember)
    listed = radmfa("device", "list", "alice")
    assert "192.0.2.7" in listed.out and "vpn1" in listed.out
    assert radmfa("device", "forget", "alice", "--station", "192.0.2.7").status == 0
    assert "192.0.2.7" not in radmfa("device", "list", "alice").out
    assert "no remembered device" in assert_one_line_error(radmfa("device", "forget", "alice", "--station", "x"))
    assert "forgot 1 device" in radmfa("device", "forget", "alice", "--all").out
    assert radmfa("device", "list", "alice").out.strip() == "no remembered devices"
    assert [a[0] for a in admin_actions(radmfa)].count("device.forget") == 2


def test_user_unblock(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")
    not_blocked = radmfa("user", "unblock", "alice")  # nothing to lift: done, not a usage error
    assert not_blocked.status == 0 and "not blocked" in not_blocked.out

    async def lock(store: Store) -> None:
        user = await store.get_user("alice")
        until = datetime.now(UTC) + timedelta(minutes=15)
        await store.update_user(
            "alice", {"state": UserState.BLOCKED, "blocked_until": until, "blocked_reason": "lockout"}
        )
        await store.note_mfa_failure(user.id, now=datetime.now(UTC))

    radmfa.store(lock)
    done = radmfa("user", "unblock", "alice")
    assert done.status == 0 and "lockout" in done.out

    async def after(store: Store) -> tuple[UserState, object, int]:
        user = await store.get_user("alice")
        return user.state, user.blocked_until, await store.note_mfa_failure(user.id, now=datetime.now(UTC))

    assert radmfa.store(after) == (UserState.ENABLED, None, 1)  # failures cleared too
    assert admin_actions(radmfa)[-1][:2] == ("user.unblock", "alice")
    assert_one_line_error(radmfa("user", "unblock", "nobody"))


def test_user_unblock_restores_the_state_before_the_block(radmfa: Radmfa) -> None:
    # An enforced user (MFA always, even without a factor) must not come back
    # as enabled (password only until enrolled, with new_user = "allow").
    radmfa("user", "add", "alice")
    radmfa("user", "set", "alice", "--state", "enforced")

    async def lock(store: Store) -> None:
        await store.block_user("alice", until=datetime.now(UTC) + timedelta(minutes=15), reason="lockout")

    radmfa.store(lock)
    done = radmfa("user", "unblock", "alice")
    assert done.status == 0 and "state is now enforced" in done.out

    radmfa("user", "add", "bob")
    radmfa("user", "set", "bob", "--state", "disabled")
    radmfa("user", "set", "bob", "--state", "blocked")
    assert "state is now disabled" in radmfa("user", "unblock", "bob").out

    async def states(store: Store) -> list[tuple[UserState, object]]:
        return [(u.state, u.state_before_block) for u in (await store.get_user("alice"), await store.get_user("bob"))]

    assert radmfa.store(states) == [(UserState.ENFORCED, None), (UserState.DISABLED, None)]


def test_user_reset(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")

    async def enroll(store: Store) -> None:
        await store.add_token("alice", NewToken("totp", b"s" * 20))

    radmfa.store(enroll)
    done = radmfa("user", "reset", "alice")
    assert done.status == 0 and "removed 1 token" in done.out
    assert "no tokens" in radmfa("user", "show", "alice").out
    assert admin_actions(radmfa)[-1] == ("user.reset", "alice", "tokens=1")
    assert_one_line_error(radmfa("user", "reset", "nobody"))


def test_user_reset_says_which_phone_methods_still_reach_the_old_phone(radmfa: Radmfa) -> None:
    # A lost phone keeps its SIM and its mail app: texts, calls and e-mailed
    # codes still reach the finder until the helpdesk changes those fields.
    radmfa("user", "add", "alice", "--mobile", "+14155550123", "--email", "alice@example.com")
    done = radmfa("user", "reset", "alice")
    assert done.status == 0
    assert "still on file" in done.out and "•••0123" in done.out and "e-mail" in done.out
    assert "--mobile ''" in done.out
    radmfa("user", "add", "bob")
    assert "still on file" not in radmfa("user", "reset", "bob").out
