"""The Store contract: every test runs against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import random
import stat
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import AuditRecord, NewToken, NewUser, Phase, Session
from radmfa.errors import AlreadyExists, NotFound, StoreError
from radmfa.store import schema
from radmfa.store.sql import AUDIT_PURGE_BATCH
from tests.store.conftest import Backend

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SEED = b"PLAINTEXT-SEED-MARKER-0123456789"  # 32 bytes, easy to grep for
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"  # noqa: S105  (test value)


def session(state: bytes = b"S" * 16, **changes: object) -> Session:
    fields: dict[str, object] = {
        "state": state,
        "client": "vpn1",
        "username": b"alice",
        "factor": "totp",
        "attempts": 0,
        "expires_at": NOW + timedelta(seconds=60),
    }
    fields.update(changes)
    return Session(**fields)  # type: ignore[arg-type]


async def add_alice_token(store: Store, secret: bytes = SEED) -> int:
    await store.add_user(NewUser("alice"))
    return (await store.add_token("alice", NewToken("totp", secret))).id


# -- users ---------------------------------------------------------------------------


async def test_user_round_trip(store: Store) -> None:
    added = await store.add_user(
        NewUser(
            "alice",
            email="a@example.org",
            mobile="+15550100",
            first_name="Alice",
            last_name="Liddell",
            password_hash=HASH,
        )
    )
    got = await store.get_user("alice")
    assert got == added
    assert got.email == "a@example.org" and got.last_name == "Liddell"
    assert got.created_at is not None and got.created_at.tzinfo is UTC


async def test_add_user_twice_is_already_exists(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    with pytest.raises(AlreadyExists, match="alice"):
        await store.add_user(NewUser("alice", email="other@example.org"))


async def test_missing_user(store: Store) -> None:
    assert await store.get_user("nobody") is None
    assert await store.delete_user("nobody") is False
    assert await store.set_password_hash("nobody", "h") is False


async def test_list_users_sorted_and_delete(store: Store) -> None:
    for name in ("carol", "alice", "bob"):
        await store.add_user(NewUser(name))
    assert [u.name for u in await store.list_users()] == ["alice", "bob", "carol"]
    assert await store.delete_user("bob") is True
    assert [u.name for u in await store.list_users()] == ["alice", "carol"]


async def test_set_password_hash(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    assert await store.set_password_hash("alice", HASH) is True
    assert (await store.get_user("alice")).password_hash == HASH
    assert await store.set_password_hash("alice", None) is True
    assert (await store.get_user("alice")).password_hash is None


# -- tokens --------------------------------------------------------------------------


async def test_token_round_trip(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    added = await store.add_token(
        "alice",
        NewToken("hotp", b"\x00\xff" * 10, digits=8, period=60, algorithm="sha256", label="phone"),
    )
    [got] = await store.list_tokens("alice")
    assert got.id == added.id
    assert (got.username, got.kind, got.secret) == ("alice", "hotp", b"\x00\xff" * 10)
    assert (got.digits, got.period, got.algorithm, got.label) == (8, 60, "sha256", "phone")
    assert got.last_step is None
    assert got.created_at == added.created_at and got.created_at.tzinfo is UTC


async def test_add_token_for_missing_user_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="nobody"):
        await store.add_token("nobody", NewToken("totp", SEED))
    assert await store.list_tokens() == []


async def test_list_and_delete_tokens(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    await store.add_user(NewUser("bob"))
    a1 = await store.add_token("alice", NewToken("totp", b"a1" * 10))
    b1 = await store.add_token("bob", NewToken("totp", b"b1" * 10))
    a2 = await store.add_token("alice", NewToken("hotp", b"a2" * 10))
    assert [t.id for t in await store.list_tokens()] == [a1.id, b1.id, a2.id]
    assert [t.secret for t in await store.list_tokens("alice")] == [b"a1" * 10, b"a2" * 10]
    assert await store.list_tokens("nobody") == []
    assert await store.delete_token(a1.id) is True
    assert await store.delete_token(a1.id) is False
    assert [t.id for t in await store.list_tokens("alice")] == [a2.id]


async def test_delete_user_cascades_to_tokens(backend: Backend, store: Store) -> None:
    await add_alice_token(store)
    await store.add_user(NewUser("bob"))
    await store.add_token("bob", NewToken("totp", b"b" * 20))
    assert await store.delete_user("alice") is True
    assert [t.username for t in await store.list_tokens()] == ["bob"]
    assert await backend.raw("SELECT COUNT(*) FROM tokens") == [(1,)]


async def test_login_view(store: Store) -> None:
    assert await store.login_view("nobody") == (None, [])
    await store.add_user(NewUser("alice", mobile="+15550100"))
    user, tokens = await store.login_view("alice")
    assert user is not None and user.mobile == "+15550100" and tokens == []
    t1 = await store.add_token("alice", NewToken("totp", b"1" * 20))
    t2 = await store.add_token("alice", NewToken("hotp", b"2" * 20))
    user, tokens = await store.login_view("alice")
    assert user == await store.get_user("alice")
    assert [(t.id, t.secret, t.username) for t in tokens] == [
        (t1.id, b"1" * 20, "alice"),
        (t2.id, b"2" * 20, "alice"),
    ]


# -- single use: OTP steps and sessions ----------------------------------------------


async def test_consume_otp_step_is_monotonic(store: Store) -> None:
    token_id = await add_alice_token(store)
    assert await store.consume_otp_step(token_id, 100) is True
    assert await store.consume_otp_step(token_id, 100) is False  # replay
    assert await store.consume_otp_step(token_id, 99) is False  # older code
    assert await store.consume_otp_step(token_id, 101) is True
    [token] = await store.list_tokens("alice")
    assert token.last_step == 101
    assert await store.consume_otp_step(token_id + 1000, 5) is False  # no such token


async def test_consume_otp_step_race_has_one_winner(backend: Backend, store: Store) -> None:
    token_id = await add_alice_token(store)
    other = await backend.open()  # a second worker process, in effect
    results = await asyncio.gather(
        *(s.consume_otp_step(token_id, 7) for _ in range(10) for s in (store, other))
    )
    assert len(results) == 20 and results.count(True) == 1


async def test_take_session_race_has_one_winner(backend: Backend, store: Store) -> None:
    await store.put_session(session())
    other = await backend.open()
    results = await asyncio.gather(
        *(s.take_session(b"S" * 16, now=NOW) for _ in range(10) for s in (store, other))
    )
    assert len(results) == 20 and sum(r is not None for r in results) == 1


async def test_session_round_trip_and_single_use(store: Store) -> None:
    attrs = (
        (25, b"class-\x00\xff-binary"),
        (26, bytes(range(253))),  # Vendor-Specific kept whole, longest RADIUS value
        (11, b""),
        (25, b"second Class"),
    )
    put = session(reply_attrs=attrs, attempts=2, factor="sms", phase=Phase.ACCEPTED)
    await store.put_session(put)
    got = await store.take_session(put.state, now=NOW)
    assert got == put
    assert await store.take_session(put.state, now=NOW) is None


async def test_session_username_need_not_be_utf8(store: Store) -> None:
    put = session(username=b"\xff\xfe\x00caf\xe9")
    await store.put_session(put)
    got = await store.take_session(put.state, now=NOW)
    assert got is not None and got.username == b"\xff\xfe\x00caf\xe9"
    assert got.reply_attrs == ()


async def test_put_session_overwrites(store: Store) -> None:
    await store.put_session(session(attempts=0))
    await store.put_session(session(attempts=1, reply_attrs=((18, b"try again"),)))
    got = await store.take_session(b"S" * 16, now=NOW)
    assert got is not None and got.attempts == 1 and got.reply_attrs == ((18, b"try again"),)


async def test_take_expired_session_is_none_and_gone(backend: Backend, store: Store) -> None:
    await store.put_session(session(expires_at=NOW))
    assert await store.take_session(b"S" * 16, now=NOW) is None
    assert await backend.raw("SELECT COUNT(*) FROM sessions") == [(0,)]
    assert await store.take_session(b"S" * 16, now=NOW - timedelta(hours=1)) is None


async def test_purge_expired(backend: Backend, store: Store) -> None:
    for n in range(5):
        await store.put_session(session(bytes([n]) * 16, expires_at=NOW + timedelta(seconds=n)))
    assert await store.purge_expired(now=NOW + timedelta(seconds=2)) == 3
    assert await store.purge_expired(now=NOW + timedelta(seconds=2)) == 0
    assert await store.take_session(b"\x03" * 16, now=NOW) is not None
    assert await store.take_session(b"\x01" * 16, now=NOW) is None


# -- audit ---------------------------------------------------------------------------


def audit(n: int) -> AuditRecord:
    return AuditRecord(
        time=NOW + timedelta(seconds=n, microseconds=123),
        request_id=f"r{n}",
        client_name="vpn1",
        client_ip="192.0.2.1",
        username=("alice", "bob", "carol")[n % 3],
        calling_station_id="198.51.100.7",
        factor="totp",
        result="accept",
        reason="",
        duration_ms=n / 4,
    )


async def test_audit_write_and_query(store: Store) -> None:
    records = [audit(n) for n in range(1000)]
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    await store.write_audit(shuffled)
    await store.write_audit([])

    assert await store.query_audit() == records
    since, until = records[10].time, records[20].time
    assert await store.query_audit(since=since, until=until) == records[10:20]
    assert await store.query_audit(since=records[-1].time) == records[-1:]
    bobs = await store.query_audit(username="bob")
    assert bobs == [r for r in records if r.username == "bob"]
    assert (
        await store.query_audit(username="bob", since=since, limit=3)
        == [r for r in records[10:] if r.username == "bob"][-3:]
    )
    assert await store.query_audit(limit=5) == records[-5:]
    assert await store.query_audit(username="nobody") == []


async def test_audit_text_and_times_are_stored_exactly(store: Store) -> None:
    # Quotes, backslashes, separators, non-ASCII and astral characters, empty
    # strings and awkward float values come back as written.
    awkward = ['"', "\\", "a,b", "{x}", "[1, 2]", "null", "Zoë Ünïcødé", "\U0001f510 key", "", " ", "a\nb\tc"]
    records = [
        audit(n)._replace(
            time=NOW + timedelta(seconds=n, microseconds=n * 7 + 1),
            request_id=f"r{n}",
            username=text,
            reason=text[::-1],
            first_name=text,
            email=text,
            server_name=text,
            duration_ms=(0.1, 1e-9, 123456.789, 0.0, 1 / 3, 1e16, 2.5e-05)[n % 7],
        )
        for n, text in enumerate(awkward)
    ]
    await store.write_audit(records)
    assert await store.query_audit() == records


async def test_audit_retention(store: Store) -> None:
    records = [audit(n) for n in range(50)]
    await store.write_audit(records)
    assert await store.purge_audit(before=records[20].time) == 20
    assert await store.query_audit() == records[20:]
    assert await store.purge_audit(before=records[20].time) == 0


async def test_audit_purge_goes_in_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite holds its write lock for a whole statement: millions of rows in one
    # DELETE would stall every login. Each batch is its own statement.
    records = [audit(n) for n in range(2 * AUDIT_PURGE_BATCH + 1000)]
    await store.write_audit(records)
    statements: list[str] = []
    execute = store._execute  # type: ignore[attr-defined]

    async def counting(sql: str, *args: object) -> int:
        statements.append(sql)
        count: int = await execute(sql, *args)
        return count

    monkeypatch.setattr(store, "_execute", counting)
    keep = len(records) - 10
    assert await store.purge_audit(before=records[keep].time) == keep
    statements = [s for s in statements if s.startswith("DELETE FROM audit WHERE")]  # not audit_daily's
    assert len(statements) == 3  # 5000, 5000, then 1990: fewer than a batch, so done
    assert await store.query_audit() == records[keep:]
    statements.clear()
    assert await store.purge_audit(before=records[keep].time) == 0
    assert len([s for s in statements if s.startswith("DELETE FROM audit WHERE")]) == 1


# -- secrets at rest and the key -----------------------------------------------------


async def test_secrets_are_not_stored_in_plaintext(backend: Backend, store: Store) -> None:
    await add_alice_token(store)
    await store.put_session(session(reply_attrs=((25, SEED),)))
    if backend.name == "sqlite":
        files = sorted(backend.base_dir.glob("radmfa.db*"))
        assert files
        for path in files:
            assert SEED not in path.read_bytes(), path
    [(secret_enc,)] = await backend.raw("SELECT secret_enc FROM tokens")
    [(reply_enc,)] = await backend.raw("SELECT reply_enc FROM sessions")
    for blob in (bytes(secret_enc), bytes(reply_enc)):
        assert SEED not in blob and len(blob) > len(SEED)


async def test_ciphertext_moved_to_another_row_does_not_decrypt(
    backend: Backend, store: Store
) -> None:
    alice_token = await add_alice_token(store)
    await store.add_user(NewUser("mallory"))
    mallory_token = (await store.add_token("mallory", NewToken("totp", b"m" * 20))).id
    await backend.raw(
        "UPDATE tokens SET secret_enc = (SELECT secret_enc FROM tokens WHERE id = ?) WHERE id = ?",
        mallory_token,
        alice_token,
    )
    with pytest.raises(StoreError, match="cannot decrypt token seeds"):
        await store.login_view("alice")


async def test_wrong_key_file_is_refused(backend: Backend, store: Store) -> None:
    await add_alice_token(store)
    other = backend.base_dir / "other.key"
    other.write_bytes(bytes(range(32)))
    other.chmod(0o600)
    with pytest.raises(StoreError, match="not the key this database was created with"):
        await backend.open(key_file=other)


async def test_key_file_is_created_private(backend: Backend, store: Store) -> None:
    mode = stat.S_IMODE(backend.key_file.stat().st_mode)
    assert mode == 0o600
    assert len(backend.key_file.read_bytes()) == 32


# -- schema --------------------------------------------------------------------------


async def test_migrate_twice_is_harmless(backend: Backend, store: Store) -> None:
    token_id = await add_alice_token(store)
    await store.migrate()
    await store.migrate()
    again = await backend.open()  # opening migrates once more
    [token] = await again.list_tokens("alice")
    assert (token.id, token.secret) == (token_id, SEED)
    versions = await backend.raw("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, schema.latest_version() + 1))


async def test_newer_schema_is_refused(backend: Backend, store: Store) -> None:
    future = schema.latest_version() + 1
    await backend.raw("INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", future)
    with pytest.raises(StoreError, match=f"version {future}.*upgrade radmfa"):
        await store.migrate()


async def test_closed_store_refuses(backend: Backend) -> None:
    store = await backend.open()
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.get_user("alice")


async def test_take_session_view_is_single_use_with_the_users_tokens(store: Store) -> None:
    token_id = await add_alice_token(store)
    await store.put_session(session(b"V" * 16, username=b"ALICE"))  # any spelling of the user
    found, user, tokens = await store.take_session_view(b"V" * 16, now=NOW)
    assert found is not None and found.username == b"ALICE"
    assert user is not None and user.name == "alice" and [t.id for t in tokens] == [token_id]
    assert tokens[0].secret == SEED
    assert await store.take_session_view(b"V" * 16, now=NOW) == (None, None, [])  # used up


async def test_take_session_view_by_the_requests_name(store: Store) -> None:
    # The answering request's name given: the same answers, in one statement on PostgreSQL.
    token_id = await add_alice_token(store)
    second = await store.add_token("alice", NewToken("hotp", b"h" * 20))
    await store.put_session(session(b"V" * 16, username=b"ALICE"))
    found, user, tokens = await store.take_session_view(b"V" * 16, now=NOW, username="ALICE")
    assert found is not None and found.username == b"ALICE" and found.client == "vpn1"
    assert user is not None and user.name == "alice" and [t.id for t in tokens] == [token_id, second.id]
    assert tokens[0].secret == SEED
    assert await store.take_session_view(b"V" * 16, now=NOW, username="alice") == (None, None, [])  # used up
    await store.put_session(session(b"E" * 16, expires_at=NOW))
    assert await store.take_session_view(b"E" * 16, now=NOW, username="alice") == (None, None, [])
    assert await store.take_session(b"E" * 16, now=NOW - timedelta(hours=1)) is None  # taken, though expired
    await store.put_session(session(b"U" * 16, username=b"nobody"))
    found, user, tokens = await store.take_session_view(b"U" * 16, now=NOW, username="nobody")
    assert found is not None and found.username == b"nobody" and user is None and tokens == []
    await store.add_user(NewUser("carol"))
    await store.put_session(session(b"C" * 16, username=b"carol"))
    found, user, tokens = await store.take_session_view(b"C" * 16, now=NOW, username="carol")
    assert found is not None and user is not None and user.name == "carol" and tokens == []


async def test_take_session_view_expired_unknown_user_and_not_utf8(store: Store) -> None:
    await store.put_session(session(b"E" * 16, expires_at=NOW))
    assert await store.take_session_view(b"E" * 16, now=NOW) == (None, None, [])
    await store.put_session(session(b"U" * 16, username=b"nobody"))
    found, user, tokens = await store.take_session_view(b"U" * 16, now=NOW)
    assert found is not None and user is None and tokens == []
    await store.put_session(session(b"B" * 16, username=b"\xff\xfe"))
    found, user, tokens = await store.take_session_view(b"B" * 16, now=NOW)
    assert found is not None and found.username == b"\xff\xfe" and user is None and tokens == []


async def test_a_batch_of_rows_is_written_whole_or_not_at_all(backend: Backend, store: Store) -> None:
    # _execute_many (audit flushes, imports) and _execute_each with one
    # statement for many rows: atomic without a transaction of their own on
    # PostgreSQL, in one on SQLite. The third row repeats the first's key.
    rows = [("batch-a", b"1"), ("batch-b", b"2"), ("batch-a", b"3")]
    sql = "INSERT INTO store_meta (name, value) VALUES (?, ?)"
    with pytest.raises(StoreError):
        await store._execute_many(sql, rows)  # type: ignore[attr-defined]  # noqa: SLF001
    with pytest.raises(StoreError):
        await store._execute_each([(sql, rows)])  # type: ignore[attr-defined]  # noqa: SLF001
    assert await backend.raw("SELECT COUNT(*) FROM store_meta WHERE name LIKE 'batch-%'") == [(0,)]
    await store._execute_many(sql, rows[:2])  # type: ignore[attr-defined]  # noqa: SLF001
    assert await backend.raw("SELECT COUNT(*) FROM store_meta WHERE name LIKE 'batch-%'") == [(2,)]
