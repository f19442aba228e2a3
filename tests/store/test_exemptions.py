"""Contract: bypasses, cache, remembered devices, app passwords, failure counts (both backends)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radmfa.config import load
from radmfa.core.admin_ports import Store
from radmfa.core.model import ExemptionView, MfaSuccess, NewToken, NewUser, UserState
from radmfa.errors import AlreadyExists, LimitReached, NotFound
from radmfa.service.app import purge_once
from tests.store.conftest import Backend

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def user_id(store: Store, name: str = "alice") -> int:
    user = await store.get_user(name)
    if user is None:
        user = await store.add_user(NewUser(name))
    return user.id


# -- bypasses --------------------------------------------------------------------


async def test_bypass_created_listed_consumed_once(store: Store) -> None:
    uid = await user_id(store)
    made = await store.create_bypass("ALICE", seconds=300, reason="phone died", created_by="hd1", now=NOW)
    assert (made.username, made.reason, made.created_by) == ("alice", "phone died", "hd1")
    assert made.expires_at == NOW + timedelta(seconds=300) and made.status(now=NOW) == "open"
    view = await store.exemption_view(uid, scopes=[], station="", client="", now=NOW)
    assert view.bypass_open
    used = await store.consume_bypass(uid, client="vpn1", station="192.0.2.7", now=NOW + timedelta(seconds=10))
    assert used is not None and used.id == made.id and used.used_at == NOW + timedelta(seconds=10)
    assert (used.used_client, used.used_station) == ("vpn1", "192.0.2.7")
    assert await store.consume_bypass(uid, client="vpn1", station="", now=NOW) is None
    assert not (await store.exemption_view(uid, scopes=[], station="", client="", now=NOW)).bypass_open
    [row] = await store.list_bypasses("alice")
    assert row.status(now=NOW) == "used"


async def test_bypass_window_edges(store: Store) -> None:
    uid = await user_id(store)
    await store.create_bypass("alice", seconds=60, reason="r", created_by="h", now=NOW)
    assert await store.consume_bypass(uid, client="c", station="", now=NOW - timedelta(microseconds=1)) is None
    assert await store.consume_bypass(uid, client="c", station="", now=NOW + timedelta(seconds=60)) is None
    view = await store.exemption_view(uid, scopes=[], station="", client="", now=NOW + timedelta(seconds=60))
    assert not view.bypass_open
    assert await store.consume_bypass(uid, client="c", station="", now=NOW) is not None  # at created_at


async def test_bypass_cancel_and_statuses(store: Store) -> None:
    uid = await user_id(store)
    a = await store.create_bypass("alice", seconds=60, reason="a", created_by="h", now=NOW)
    b = await store.create_bypass("alice", seconds=60, reason="b", created_by="h", now=NOW)
    cancelled = await store.cancel_bypass(a.id, now=NOW)
    assert cancelled is not None and cancelled.status(now=NOW) == "cancelled"
    assert await store.cancel_bypass(a.id, now=NOW) is None  # once
    assert await store.cancel_bypass(b.id, now=NOW + timedelta(seconds=60)) is None  # expired
    assert await store.cancel_bypass(999_999, now=NOW) is None
    assert [x.status(now=NOW + timedelta(seconds=60)) for x in await store.list_bypasses()] == ["cancelled", "expired"]
    assert await store.consume_bypass(uid, client="c", station="", now=NOW) is not None  # b, not the cancelled a
    assert (await store.list_bypasses())[1].used_at == NOW


async def test_bypass_for_missing_user_and_rows_outlive_the_user(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.create_bypass("nobody", seconds=60, reason="r", created_by="h", now=NOW)
    await user_id(store, "bob")
    await store.create_bypass("bob", seconds=60, reason="r", created_by="h", now=NOW)
    assert await store.delete_user("bob")
    assert [b.username for b in await store.list_bypasses()] == ["bob"]  # kept for the report


async def test_racing_logins_consume_one_bypass_once(backend: Backend, store: Store) -> None:
    uid = await user_id(store)
    await store.create_bypass("alice", seconds=60, reason="race", created_by="h", now=NOW)
    workers = [store, *[await backend.open() for _ in range(3)]]  # four processes' stores

    async def login(i: int) -> bool:
        got = await workers[i % 4].consume_bypass(uid, client=f"nas{i}", station="", now=NOW)
        return got is not None

    results = await asyncio.gather(*(login(i) for i in range(100)))
    assert sum(results) == 1
    [row] = await store.list_bypasses("alice")
    assert row.used_client is not None


# -- cache and remembered devices --------------------------------------------------


async def test_mfa_success_sets_cache_devices_and_clears_failures(store: Store) -> None:
    uid = await user_id(store)
    assert await store.note_mfa_failure(uid, now=NOW) == 1
    assert await store.note_mfa_failure(uid, now=NOW) == 2
    await store.record_mfa_success(uid, scopes=["0:user", "1:client:vpn1"], station="192.0.2.7", client="vpn1", now=NOW)
    assert await store.note_mfa_failure(uid, now=NOW) == 1  # cleared by the success
    view = await store.exemption_view(
        uid, scopes=["0:user", "2:station:x"], station="192.0.2.7", client="vpn1", now=NOW
    )
    assert view.cache == {"0:user": NOW} and view.remembered_at == NOW and not view.bypass_open
    later = NOW + timedelta(hours=1)
    await store.record_mfa_success(uid, scopes=["0:user"], station="192.0.2.7", client="vpn2", now=later)
    view = await store.exemption_view(
        uid, scopes=["0:user", "1:client:vpn1"], station="192.0.2.7", client="vpn2", now=later
    )
    assert view.cache == {"0:user": later, "1:client:vpn1": NOW} and view.remembered_at == later
    # The station is remembered for the NAS that saw it only.
    view = await store.exemption_view(uid, scopes=[], station="192.0.2.7", client="vpn1", now=later)
    assert view.remembered_at is None
    [device] = await store.list_devices("ALICE")
    assert (device.username, device.station, device.client, device.remembered_at) == (
        "alice",
        "192.0.2.7",
        "vpn2",
        later,
    )


async def test_mfa_success_written_with_the_code_step_only_when_the_step_is_taken(store: Store) -> None:
    uid = await user_id(store)
    token = await store.add_token("alice", NewToken("totp", b"k" * 20))
    assert await store.note_mfa_failure(uid, now=NOW) == 1
    success = MfaSuccess(uid, ("0:user", "1:client:vpn1"), "192.0.2.7", "vpn1", NOW)
    assert await store.consume_otp_step(token.id, 100, success=success)
    assert await store.note_mfa_failure(uid, now=NOW) == 1  # the earlier failure was cleared
    view = await store.exemption_view(
        uid, scopes=["0:user", "1:client:vpn1"], station="192.0.2.7", client="vpn1", now=NOW
    )
    assert view.cache == {"0:user": NOW, "1:client:vpn1": NOW} and view.remembered_at == NOW
    # A replayed step writes nothing: not the cache, not the device, not the count.
    later = NOW + timedelta(hours=1)
    replay = MfaSuccess(uid, ("0:user", "2:station:x"), "198.51.100.1", "vpn1", later)
    assert not await store.consume_otp_step(token.id, 100, success=replay)
    assert not await store.consume_otp_step(token.id, 99, success=replay)
    assert await store.note_mfa_failure(uid, now=NOW) == 2
    view = await store.exemption_view(
        uid, scopes=["0:user", "2:station:x"], station="198.51.100.1", client="vpn1", now=later
    )
    assert view.cache == {"0:user": NOW} and view.remembered_at is None
    # No scopes and no station: the step and the cleared count only.
    assert await store.consume_otp_step(token.id, 101, success=MfaSuccess(uid, (), "", "vpn1", later))
    assert await store.note_mfa_failure(uid, now=NOW) == 1
    [kept] = await store.list_tokens("alice")
    assert kept.last_step == 101 and kept.fail_count == 0
    # ...and replayed, nothing: the count stays.
    assert not await store.consume_otp_step(token.id, 101, success=MfaSuccess(uid, (), "", "vpn1", later))
    assert await store.note_mfa_failure(uid, now=NOW) == 2


async def test_racing_code_checks_take_a_step_and_write_its_success_once(backend: Backend, store: Store) -> None:
    uid = await user_id(store)
    token = await store.add_token("alice", NewToken("totp", b"k" * 20))
    workers = [store, *[await backend.open() for _ in range(3)]]

    async def check(i: int) -> bool:
        success = MfaSuccess(uid, (f"0:user{i}",), "", "vpn1", NOW)
        return await workers[i % 4].consume_otp_step(token.id, 500, success=success)

    results = await asyncio.gather(*(check(i) for i in range(40)))
    assert sum(results) == 1
    [winner] = [i for i, won in enumerate(results) if won]
    view = await store.exemption_view(uid, scopes=[f"0:user{i}" for i in range(40)], station="", client="vpn1", now=NOW)
    assert view.cache == {f"0:user{winner}": NOW}


async def test_login_exemption_view_reads_what_the_two_views_read(store: Store) -> None:
    assert await store.login_exemption_view("nobody", scopes=["0:user"], station="s", client="c", now=NOW) == (
        None,
        [],
        ExemptionView(),
    )
    uid = await user_id(store)
    first = await store.add_token("alice", NewToken("totp", b"k" * 20))
    await store.add_token("alice", NewToken("hotp", b"h" * 20))
    await store.record_mfa_success(uid, scopes=["0:user"], station="192.0.2.7", client="vpn1", now=NOW)
    await store.create_bypass("alice", seconds=60, reason="r", created_by="h", now=NOW)
    bob = await user_id(store, "bob")
    await store.record_mfa_success(bob, scopes=["1:client:vpn1"], station="192.0.2.8", client="vpn1", now=NOW)
    asked = [
        ([], ""),
        (["0:user"], ""),
        (["0:user", "1:client:vpn1"], "192.0.2.7"),
        (["2:station:x"], "192.0.2.8"),
    ]
    for when in (NOW, NOW + timedelta(minutes=5)):  # the bypass open, then expired
        for scopes, station in asked:
            for client in ("vpn1", "vpn2"):
                user, tokens, view = await store.login_exemption_view(
                    "ALICE", scopes=scopes, station=station, client=client, now=when
                )
                assert (user, tokens) == await store.login_view("alice")
                assert [t.id for t in tokens][0] == first.id and len(tokens) == 2
                assert view == await store.exemption_view(uid, scopes=scopes, station=station, client=client, now=when)
    _, _, view = await store.login_exemption_view(
        "alice", scopes=["0:user"], station="192.0.2.7", client="vpn1", now=NOW
    )
    assert view == ExemptionView(True, {"0:user": NOW}, NOW)
    # A user without tokens still gets their exemptions.
    await store.delete_token(first.id)
    for token in await store.list_tokens("alice"):
        await store.delete_token(token.id)
    user, tokens, view = await store.login_exemption_view(
        "alice", scopes=["0:user"], station="", client="vpn1", now=NOW
    )
    assert user is not None and user.id == uid and tokens == [] and view == ExemptionView(True, {"0:user": NOW}, None)


async def test_a_login_with_nothing_stored_gets_the_empty_view_read_only(store: Store) -> None:
    """Most logins have no bypass, cache time or remembered device: their
    view is one value shared by all, which nobody can write into."""
    uid = await user_id(store, "carol")
    await store.add_token("carol", NewToken("totp", b"k" * 20))
    for scopes, station in (([], ""), (["0:user", "1:client:vpn1"], "192.0.2.9")):
        _, tokens, view = await store.login_exemption_view(
            "carol", scopes=scopes, station=station, client="vpn1", now=NOW
        )
        assert len(tokens) == 1
        assert view == ExemptionView() == await store.exemption_view(
            uid, scopes=scopes, station=station, client="vpn1", now=NOW
        )
        with pytest.raises(TypeError):
            view.cache["0:user"] = NOW  # type: ignore[index]
    # Once something is stored, the view says so (a value of its own).
    await store.record_mfa_success(uid, scopes=["0:user"], station="192.0.2.9", client="vpn1", now=NOW)
    _, _, view = await store.login_exemption_view(
        "carol", scopes=["0:user"], station="192.0.2.9", client="vpn1", now=NOW
    )
    assert view == ExemptionView(False, {"0:user": NOW}, NOW)


async def test_forget_one_device_or_all_with_the_cache(store: Store) -> None:
    uid = await user_id(store)
    for station in ("a", "b"):
        await store.record_mfa_success(uid, scopes=["0:user"], station=station, client="vpn1", now=NOW)
    assert await store.forget_devices("alice", "a") == 1
    view = await store.exemption_view(uid, scopes=["0:user"], station="b", client="vpn1", now=NOW)
    assert view.cache == {} and view.remembered_at == NOW  # one station: the cache goes, "b" stays
    assert await store.forget_devices("alice", "a") == 0
    assert [d.station for d in await store.list_devices("alice")] == ["b"]
    assert await store.forget_devices("alice") == 1
    view = await store.exemption_view(uid, scopes=["0:user"], station="b", client="vpn1", now=NOW)
    assert view.cache == {} and view.remembered_at is None
    assert await store.forget_devices("nobody") == 0


async def test_user_isolation_and_cascade(store: Store) -> None:
    alice, bob = await user_id(store, "alice"), await user_id(store, "bob")
    await store.record_mfa_success(alice, scopes=["0:user"], station="s", client="c", now=NOW)
    await store.create_bypass("alice", seconds=60, reason="r", created_by="h", now=NOW)
    view = await store.exemption_view(bob, scopes=["0:user"], station="s", client="c", now=NOW)
    assert view.cache == {} and view.remembered_at is None and not view.bypass_open
    assert await store.consume_bypass(bob, client="c", station="", now=NOW) is None
    assert await store.delete_user("alice")
    assert await store.list_devices("alice") == []


# -- app passwords -----------------------------------------------------------------


async def add(store: Store, name: str, lookup: str, *, limit: int = 40, user: str = "alice") -> object:
    return await store.add_app_password(
        user, name=name, lookup=lookup, password_hash=f"h-{lookup}", limit=limit, now=NOW
    )


async def test_app_password_round_trip_find_touch_delete(store: Store) -> None:
    uid = await user_id(store)
    made = await add(store, "Laptop", "ABCD")
    found = await store.find_app_password(uid, "ABCD")
    assert found == made and found.password_hash == "h-ABCD" and found.last_used_at is None
    assert await store.find_app_password(uid, "ZZZZ") is None
    await store.touch_app_password(found.id, now=NOW + timedelta(minutes=1))
    [listed] = await store.list_app_passwords("alice")
    assert listed.name == "Laptop" and listed.last_used_at == NOW + timedelta(minutes=1)
    await add(store, "Phone", "EFGH")
    assert await store.delete_app_passwords("alice", "Laptop") == 1
    assert await store.delete_app_passwords("alice", "Laptop") == 0
    assert await store.delete_app_passwords("alice") == 1
    assert await store.list_app_passwords("alice") == []


async def test_app_password_limit_40th_ok_41st_refused(store: Store) -> None:
    await user_id(store)
    for i in range(40):
        await add(store, f"d{i}", f"L{i:03d}")
    with pytest.raises(LimitReached, match="40"):
        await add(store, "d40", "LAST")
    assert len(await store.list_app_passwords("alice")) == 40
    await store.delete_app_passwords("alice", "d0")
    await add(store, "d40", "LAST")  # room again


async def test_app_password_conflicts(store: Store) -> None:
    alice = await user_id(store)
    bob = await user_id(store, "bob")
    await add(store, "Laptop", "ABCD")
    with pytest.raises(AlreadyExists, match="named"):
        await add(store, "Laptop", "WXYZ")
    with pytest.raises(AlreadyExists, match="lookup"):
        await add(store, "Other", "ABCD")
    await add(store, "Laptop", "ABCD", user="bob")  # per user
    assert (await store.find_app_password(bob, "ABCD")).username == "bob"
    assert (await store.find_app_password(alice, "ABCD")).username == "alice"
    with pytest.raises(NotFound):
        await add(store, "Laptop", "ABCD", user="nobody")


# -- failure counts and reset ------------------------------------------------------


async def test_concurrent_failures_all_counted(backend: Backend, store: Store) -> None:
    uid = await user_id(store)
    other = await backend.open()
    counts = await asyncio.gather(*(s.note_mfa_failure(uid, now=NOW) for s in [store, other] * 10))
    assert sorted(counts) == list(range(1, 21))
    await store.clear_mfa_failures(uid)
    assert await other.note_mfa_failure(uid, now=NOW) == 1


async def test_reset_user_removes_factors_devices_cache_and_failures(store: Store) -> None:
    uid = await user_id(store)
    await store.add_token("alice", NewToken("totp", b"k" * 20))
    await store.add_token("alice", NewToken("totp", b"j" * 20))
    await store.record_mfa_success(uid, scopes=["0:user"], station="s", client="c", now=NOW)
    await store.note_mfa_failure(uid, now=NOW)
    await add(store, "Laptop", "ABCD")
    assert await store.reset_user("ALICE") == 2
    user, tokens = await store.login_view("alice")
    assert user is not None and tokens == []
    assert await store.list_devices("alice") == []
    assert (await store.exemption_view(uid, scopes=["0:user"], station="s", client="c", now=NOW)).cache == {}
    assert await store.note_mfa_failure(uid, now=NOW) == 1
    assert len(await store.list_app_passwords("alice")) == 1  # app passwords go with `apppass delete --all`


# -- housekeeping ------------------------------------------------------------------


async def test_purge_exemptions_keeps_what_can_still_matter(store: Store) -> None:
    uid = await user_id(store)
    await store.record_mfa_success(uid, scopes=["0:user"], station="old", client="c", now=NOW)
    later = NOW + timedelta(hours=1)
    await store.record_mfa_success(uid, scopes=["1:user"], station="new", client="c", now=later)
    assert await store.purge_exemptions(cache_before=NOW, devices_before=NOW) == 0  # "<": the edge stays
    assert await store.purge_exemptions(cache_before=later, devices_before=NOW + timedelta(seconds=1)) == 2
    view = await store.exemption_view(uid, scopes=["0:user", "1:user"], station="new", client="c", now=later)
    assert view.cache == {"1:user": later} and view.remembered_at == later
    assert [d.station for d in await store.list_devices("alice")] == ["new"]


async def test_housekeeping_purges_by_the_longest_window(store: Store, tmp_path: Path) -> None:
    (tmp_path / "h.toml").write_text(
        '[store]\nurl = "sqlite:///h.db"\n[[mfa.cache]]\ntype = "user"\nseconds = 3600\n'
        "[clients.vpn1]\nremember_days = 30\n"
    )
    cfg = load(tmp_path / "h.toml")
    uid = await user_id(store)
    await store.record_mfa_success(uid, scopes=["0:user"], station="s", client="vpn1", now=NOW)
    await purge_once(store, cfg, now=NOW + timedelta(seconds=3600))
    view = await store.exemption_view(uid, scopes=["0:user"], station="s", client="vpn1", now=NOW)
    assert view.cache == {"0:user": NOW}
    await purge_once(store, cfg, now=NOW + timedelta(seconds=3601))
    view = await store.exemption_view(uid, scopes=["0:user"], station="s", client="vpn1", now=NOW)
    assert view.cache == {} and view.remembered_at == NOW  # 30 days, not 14, keep the device
    await purge_once(store, cfg, now=NOW + timedelta(days=30, seconds=1))
    assert await store.list_devices("alice") == []


async def test_block_user_never_shortens_a_block(store: Store) -> None:
    await user_id(store)
    soon, later = NOW + timedelta(minutes=15), NOW + timedelta(days=90)
    assert await store.block_user("ALICE", until=soon, reason="lockout")
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.BLOCKED
    assert (user.blocked_until, user.blocked_reason) == (soon, "lockout")
    assert not await store.block_user("alice", until=soon - timedelta(seconds=1), reason="x")  # shorter: kept
    assert await store.block_user("alice", until=later, reason="fraud")  # longer: extends
    assert await store.block_user("alice", until=None, reason="admin")  # until unblocked: longest
    assert not await store.block_user("alice", until=later, reason="lockout")
    assert not await store.block_user("alice", until=None, reason="again")
    user = await store.get_user("alice")
    assert user is not None and (user.blocked_until, user.blocked_reason) == (None, "admin")
    assert not await store.block_user("nobody", until=None, reason="x")


async def test_block_user_keeps_the_state_before_the_first_block(store: Store) -> None:
    await user_id(store)
    await store.update_user("alice", {"state": UserState.ENFORCED})
    assert await store.block_user("alice", until=NOW + timedelta(minutes=15), reason="lockout")
    assert await store.block_user("alice", until=None, reason="fraud")  # a block on a block
    user = await store.get_user("alice")
    assert user is not None and user.state is UserState.BLOCKED and user.state_before_block is UserState.ENFORCED


async def test_a_rehash_replaces_only_the_hash_that_was_checked(store: Store) -> None:
    uid = await user_id(store)
    made = await add(store, "Laptop", "ABCD")
    assert await store.rehash_app_password(made.id, "h-ABCD", "h-new")  # type: ignore[attr-defined]
    assert (await store.find_app_password(uid, "ABCD")).password_hash == "h-new"  # type: ignore[union-attr]
    # A stale check (the hash changed meanwhile) writes nothing.
    assert not await store.rehash_app_password(made.id, "h-ABCD", "h-stale")  # type: ignore[attr-defined]
    assert (await store.find_app_password(uid, "ABCD")).password_hash == "h-new"  # type: ignore[union-attr]

    await store.add_user(NewUser("bob", password_hash="p-old"))
    assert await store.rehash_password("BOB", "p-old", "p-new")
    assert (await store.get_user("bob")).password_hash == "p-new"  # type: ignore[union-attr]
    await store.set_password_hash("bob", "p-set-by-admin")
    assert not await store.rehash_password("bob", "p-new", "p-stale")
    assert (await store.get_user("bob")).password_hash == "p-set-by-admin"  # type: ignore[union-attr]
    assert not await store.rehash_password("nobody", "p-old", "p-new")
