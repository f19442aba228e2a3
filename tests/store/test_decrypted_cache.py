"""Seeds and session reply attributes a store has opened once are kept in its
process: the answers must be the ones decrypting gives, and anything changed
in the database behind its back must be read (and authenticated) anew."""

from __future__ import annotations

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser
from radmfa.errors import StoreError
from radmfa.store import sql_sessions, sql_users
from tests.store.conftest import Backend
from tests.store.test_contract import NOW, SEED, add_alice_token, session


async def test_a_seed_read_again_is_the_same_token(backend: Backend, store: Store) -> None:
    token_id = await add_alice_token(store)
    _, first = await store.login_view("alice")
    _, again = await store.login_view("alice")  # from the store's memory
    _, fresh = await (await backend.open()).login_view("alice")  # decrypted
    assert first == again == fresh and again[0].id == token_id and again[0].secret == SEED


async def test_a_seed_changed_behind_the_stores_back_is_read_anew(backend: Backend, store: Store) -> None:
    token_id = await add_alice_token(store)
    assert (await store.login_view("alice"))[1][0].secret == SEED
    resealed = store._cipher.encrypt(b"N" * 20, context=b"tokens.secret_enc:%d" % token_id)  # type: ignore[attr-defined]  # noqa: SLF001
    await backend.raw("UPDATE tokens SET secret_enc = ? WHERE id = ?", resealed, token_id)
    assert (await store.login_view("alice"))[1][0].secret == b"N" * 20


async def test_a_seed_moved_after_it_was_read_does_not_decrypt(backend: Backend, store: Store) -> None:
    alice_token = await add_alice_token(store)
    await store.add_user(NewUser("mallory"))
    mallory_token = (await store.add_token("mallory", NewToken("totp", b"m" * 20))).id
    await store.login_view("alice")
    await store.login_view("mallory")
    await backend.raw(
        "UPDATE tokens SET secret_enc = (SELECT secret_enc FROM tokens WHERE id = ?) WHERE id = ?",
        mallory_token,
        alice_token,
    )
    with pytest.raises(StoreError, match="cannot decrypt token seeds"):
        await store.login_view("alice")


async def test_the_seed_memory_is_bounded(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    monkeypatch.setattr(sql_users, "SEED_CACHE_SIZE", 3)
    for n in range(5):
        await store.add_user(NewUser(f"u{n}"))
        await store.add_token(f"u{n}", NewToken("totp", bytes([n]) * 20))
        assert (await store.login_view(f"u{n}"))[1][0].secret == bytes([n]) * 20
        assert len(store._seeds) <= 3  # type: ignore[attr-defined]  # noqa: SLF001


async def test_a_session_taken_where_it_was_put_or_elsewhere_is_the_same(backend: Backend, store: Store) -> None:
    attrs = ((25, b"class"), (26, bytes(range(40))))
    await store.put_session(session(b"A" * 16, reply_attrs=attrs))
    await store.put_session(session(b"B" * 16, reply_attrs=attrs))
    here = await store.take_session(b"A" * 16, now=NOW)
    there = await (await backend.open()).take_session(b"B" * 16, now=NOW)
    assert here is not None and there is not None
    assert here.reply_attrs == there.reply_attrs == attrs
    opened = store._opened  # type: ignore[attr-defined]  # noqa: SLF001
    assert list(opened) == [b"B" * 16]  # A taken once, forgotten; B taken elsewhere


async def test_a_session_blob_swapped_behind_the_stores_back_does_not_decrypt(
    backend: Backend, store: Store
) -> None:
    await store.put_session(session(b"A" * 16, reply_attrs=((25, b"a"),)))
    await store.put_session(session(b"B" * 16, reply_attrs=((25, b"b"),)))
    await backend.raw(
        "UPDATE sessions SET reply_enc = (SELECT reply_enc FROM sessions WHERE state = ?) WHERE state = ?",
        b"B" * 16,
        b"A" * 16,
    )
    with pytest.raises(StoreError, match="session reply attributes"):
        await store.take_session(b"A" * 16, now=NOW)


async def test_the_session_memory_is_bounded(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    monkeypatch.setattr(sql_sessions, "OPENED_CACHE_SIZE", 3)
    for n in range(5):
        await store.put_session(session(bytes([n]) * 16))
        assert len(store._opened) <= 3  # type: ignore[attr-defined]  # noqa: SLF001
    for n in range(5):
        got = await store.take_session(bytes([n]) * 16, now=NOW)
        assert got is not None and got.reply_attrs == ()


async def test_users_and_tokens_read_again_follow_every_change(backend: Backend, store: Store) -> None:
    token_id = await add_alice_token(store)
    user, tokens = await store.login_view("alice")
    assert user is not None and user.state == "enabled" and tokens[0].last_step is None
    await backend.raw("UPDATE users SET state = 'blocked', blocked_reason = 'x' WHERE name = 'alice'")
    assert await store.consume_otp_step(token_id, 7)
    again, tokens = await store.login_view("alice")
    assert again is not None and again.state == "blocked" and again.blocked_reason == "x"
    assert tokens[0].last_step == 7 and tokens[0].secret == SEED
    fresh = await (await backend.open()).login_view("alice")
    assert (again, tokens) == fresh
