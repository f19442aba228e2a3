"""SQLite reads a login's user and tokens as a few packed columns (a JSON
array of the user's columns, one of the token's, times in them as whole
ticks of 2**-22 s, the seed's ciphertext as it is): the objects must be
exactly those the plain columns give, whatever the values hold; a time the
ticks cannot carry is read from the plain columns; and a row changed behind
the store's back must be read anew."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from radmfa.core.model import NewToken, NewUser, UserState
from radmfa.store import open_store, sql_users
from radmfa.store.codec import from_epoch
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


def _spy(store: SqliteStore) -> list[object]:
    """What each of ``store``'s packed reads gave (None: it fell back to the plain columns)."""
    seen: list[object] = []
    packed = store._packed_view  # noqa: SLF001

    def spied(rows: Any) -> Any:
        seen.append(view := packed(rows))
        return view

    store._packed_view = spied  # type: ignore[method-assign]  # noqa: SLF001
    return seen


async def _same_as_plain(packed: SqliteStore, plain: SqliteStore, name: str) -> None:
    assert await packed.login_view(name) == await plain.login_view(name)
    for scopes, station in (((), ""), (("vpn1",), "10.0.0.7")):
        view = await packed.login_exemption_view(name, scopes=scopes, station=station, client="vpn1", now=NOW)
        assert view == await plain.login_exemption_view(name, scopes=scopes, station=station, client="vpn1", now=NOW)


# Stored times that whole ticks of 2**-22 s cannot carry: before 2004 with
# finer bits than that (a second before 2**30 s among them), before 1970, tiny.
INEXACT = (0.1, 2.0**29 + 2.0**-23, 1073741823.9999999, -1.3, 1e-300)
TIMES = (("users", "created_at"), ("users", "blocked_until"), ("tokens", "created_at"), ("tokens", "failed_at"))


async def test_a_time_the_ticks_cannot_carry_is_read_from_the_plain_columns(tmp_path: Path) -> None:
    packed, plain = await _open(tmp_path), await _open(tmp_path)
    plain._packed_view_sql = False  # noqa: SLF001
    seen = _spy(packed)
    try:
        await _everything(packed)
        db = sqlite3.connect(tmp_path / "radmfa.db", isolation_level=None)
        for table, column in TIMES:
            for value in INEXACT:
                db.execute(f"UPDATE {table} SET {column} = ?", (value,))  # noqa: S608
                seen.clear()
                await _same_as_plain(packed, plain, "alice")
                assert seen and all(view is None for view in seen)
                user, tokens = await packed.login_view("alice")
                assert getattr(user if table == "users" else tokens[0], column) == from_epoch(value)
            db.execute(f"UPDATE {table} SET {column} = ?", (1893499200.25,))  # noqa: S608
        db.execute("UPDATE users SET created_at = ?", (-1.5,))  # before 1970, whole ticks: carried
        db.close()
        seen.clear()
        await _same_as_plain(packed, plain, "alice")
        assert seen and all(view is not None for view in seen)
    finally:
        await packed.close()
        await plain.close()


async def test_every_time_from_2004_on_is_carried_exactly(tmp_path: Path) -> None:
    """Any double from 2**30 s (January 2004) to the last datetime: its
    ticks are whole, divide back to the very same double, and the packed
    read builds what the plain columns build."""
    packed, plain = await _open(tmp_path), await _open(tmp_path)
    plain._packed_view_sql = False  # noqa: SLF001
    seen = _spy(packed)
    pick = random.Random(17)
    values = [2.0**30, 2.0**31 - 2.0**-22, 2.0**37, 1893499200.000001]
    values += [pick.uniform(2.0**30, 2.0**37.8) for _ in range(60)]
    try:
        await _everything(packed)
        db = sqlite3.connect(tmp_path / "radmfa.db", isolation_level=None)
        for value in values:
            for table, column in TIMES:
                db.execute(f"UPDATE {table} SET {column} = ?", (value,))  # noqa: S608
            user_array, token_array, _ = db.execute(sql_users.PACKED_VIEW_SQL, ("alice",)).fetchone()
            user, token = json.loads(user_array), json.loads(token_array)
            assert user[17] == 1 and token[11] == 1
            assert [user[8] / 2**22, user[13] / 2**22, token[7] / 2**22, token[9] / 2**22] == [value] * 4
            seen.clear()
            await _same_as_plain(packed, plain, "alice")
            assert seen and all(view is not None for view in seen)
        db.close()
    finally:
        await packed.close()
        await plain.close()


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
