"""SQLite reads a login's user and tokens as a few packed columns (JSON
arrays for the text and integer columns, the open bypass first in the
user's, REAL and BLOB columns as they are): the objects must be exactly
those the plain columns give, whatever the values hold, and a row changed
behind the store's back must be read anew."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from radmfa.core.model import NewToken, NewUser, UserState
from radmfa.store import open_store
from radmfa.store.sqlite import SqliteStore
from tests.store.test_contract import HASH, NOW

ODD = 'Zoë "quoted" \\ back\tslash\n\x01\x1f \u2028 日本 😀'


async def _open(tmp_path: Path) -> SqliteStore:
    store = await open_store("sqlite:///radmfa.db", key_file=tmp_path / "seed.key", base_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    return store


async def _everything(store: SqliteStore) -> None:
    """Users whose every column holds something a packing could get wrong."""
    await store.add_user(NewUser(
        "alice", email=ODD, mobile="+15550100", first_name="", last_name=ODD, password_hash=HASH,
        office_phone="+15550101", language="de-CH", default_method="totp", push_enrolled=True,
    ))
    await store.add_token("alice", NewToken("totp", b"\x00" * 20, digits=8, period=60, algorithm="sha256",
                                            label=ODD, last_step=2**62 + 1))
    await store.add_token("alice", NewToken("hotp", bytes(range(20)), label=None, serial="HW-1"))
    await store.note_code_failure([1, 2], now=NOW + timedelta(microseconds=123457))
    await store.block_user("alice", until=NOW + timedelta(seconds=0.333333), reason=ODD)
    await store.add_user(NewUser("bob"))  # no token, nearly every column NULL
    await store.add_user(NewUser("carol", state=UserState.DISABLED))
    await store.add_token("carol", NewToken("totp", b"c" * 20))
    await store.create_bypass("carol", seconds=60, reason=ODD, created_by="hd", now=NOW)


async def test_packed_reads_build_what_the_plain_columns_build(tmp_path: Path) -> None:
    packed, plain = await _open(tmp_path), await _open(tmp_path)
    try:
        assert packed._packed_view_sql  # noqa: SLF001  (this SQLite has its JSON functions)
        plain._packed_view_sql = False  # noqa: SLF001
        await _everything(packed)
        for name in ("alice", "bob", "carol", "nobody"):
            want = await plain.login_view(name)
            assert await packed.login_view(name) == want
            for scopes, station in (((), ""), (("vpn1", "all"), ""), (("vpn1",), "10.0.0.7")):
                view = await packed.login_exemption_view(name, scopes=scopes, station=station, client="vpn1", now=NOW)
                assert view == await plain.login_exemption_view(
                    name, scopes=scopes, station=station, client="vpn1", now=NOW
                )
                assert view[:2] == want
        user, tokens = await packed.login_view("alice")
        assert user is not None and user.email == ODD and user.blocked_reason == ODD and user.push_enrolled
        assert user.created_at is not None and user.blocked_until == NOW + timedelta(microseconds=333333)
        assert [t.kind for t in tokens] == ["totp", "hotp"] and tokens[0].last_step == 2**62 + 1
        assert tokens[0].failed_at == NOW + timedelta(microseconds=123457) and tokens[1].serial == "HW-1"
    finally:
        await packed.close()
        await plain.close()


async def test_a_packed_row_changed_behind_the_stores_back_is_read_anew(tmp_path: Path) -> None:
    store, other = await _open(tmp_path), await _open(tmp_path)
    try:
        await _everything(store)
        first = await store.login_view("alice")
        assert await store.login_view("alice") == first  # from the store's memory
        await other.update_user("alice", {"email": "new@example.com"})
        user, tokens = await store.login_view("alice")
        assert user is not None and user.email == "new@example.com" and tokens == first[1]
        assert await other.consume_otp_step(tokens[1].id, 7)
        _, tokens = await store.login_view("alice")
        assert tokens[1].last_step == 7 and tokens[1].fail_count == 0 and tokens[0] == first[1][0]
        await other.note_code_failure([tokens[0].id], now=NOW + timedelta(seconds=5))
        _, tokens = await store.login_view("alice")
        assert tokens[0].fail_count == 2 and tokens[0].failed_at == NOW + timedelta(seconds=5)
        assert (await store.login_view("alice")) == (await other.login_view("alice"))
    finally:
        await store.close()
        await other.close()


async def test_the_open_bypass_read_with_the_user_follows_every_change(tmp_path: Path) -> None:
    """The bypass is the first value of the user's array: a user whose
    objects the store kept still gets the bypass as it is now."""
    store, other = await _open(tmp_path), await _open(tmp_path)

    async def bypass_open() -> bool:
        user, _, view = await store.login_exemption_view("carol", scopes=(), station="", client="vpn1", now=NOW)
        assert user is not None and user.name == "carol"
        return view.bypass_open

    try:
        await _everything(store)
        assert await bypass_open()
        user = (await store.login_view("carol"))[0]
        assert user is not None
        assert await other.consume_bypass(user.id, client="vpn1", station="", now=NOW) is not None
        assert not await bypass_open() and not await bypass_open()
        await other.create_bypass("carol", seconds=60, reason="again", created_by="hd", now=NOW)
        assert await bypass_open()
        assert (await store.login_view("carol"))[0] == user
    finally:
        await store.close()
        await other.close()


async def test_without_json_functions_the_plain_columns_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SqliteStore, "_has_json", lambda self: False)
    store = await _open(tmp_path)
    try:
        assert not store._packed_view_sql  # noqa: SLF001
        await _everything(store)
        user, tokens = await store.login_view("alice")
        assert user is not None and user.email == ODD and len(tokens) == 2
    finally:
        await store.close()


def test_rows_build_users_and_tokens_field_by_field() -> None:
    """_user and _token pass the columns by position: each in its field."""
    from dataclasses import fields

    from radmfa.core.model import Token, User
    from radmfa.store.codec import from_epoch
    from radmfa.store.sql_users import _user

    row = (7, "n", "e", "m", "f", "l", "h", 1.5, "o", "la", "dm", "blocked", 2.5, "r", "enabled", 1)
    assert _user(row) == User(
        id=7, name="n", email="e", mobile="m", first_name="f", last_name="l", password_hash="h",
        created_at=from_epoch(1.5), office_phone="o", language="la", default_method="dm",
        state=UserState.BLOCKED, blocked_until=from_epoch(2.5), blocked_reason="r",
        state_before_block=UserState.ENABLED, push_enrolled=True,
    )
    assert [f.name for f in fields(Token)][:4] == ["id", "username", "kind", "secret"]


async def test_a_token_row_builds_its_token_field_by_field(tmp_path: Path) -> None:
    from radmfa.core.model import Token
    from radmfa.store.codec import from_epoch

    store = await _open(tmp_path)
    try:
        sealed = store._cipher.encrypt(b"s" * 20, context=b"tokens.secret_enc:9")  # noqa: SLF001
        row = (9, "hotp", sealed, 8, 60, "sha256", 41, "lab", 1.5, 3, 2.5, "SER")
        assert store._token(row, 0, "alice") == Token(  # noqa: SLF001
            id=9, username="alice", kind="hotp", secret=b"s" * 20, digits=8, period=60, algorithm="sha256",
            last_step=41, label="lab", created_at=from_epoch(1.5), fail_count=3, failed_at=from_epoch(2.5),
            serial="SER",
        )
    finally:
        await store.close()
