"""The Store contract for user names: one user, whatever spelling a NAS sends.

Every method taking a name finds the user by core.policy.name_key, so that
ALICE, alice@corp.example and CORP\\alice cannot pass for an unknown user
(which ``unknown_users = "password-only"`` lets in on a password alone).
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser
from radmfa.errors import AlreadyExists, NotFound, StoreError
from radmfa.store import schema
from tests.store.conftest import Backend

SPELLINGS = ["alice", "ALICE", "Alice", "alice@corp.example", "CORP\\alice", "CORP\\ALICE@corp"]


@pytest.mark.parametrize("typed", SPELLINGS)
async def test_every_spelling_finds_the_user(store: Store, typed: str) -> None:
    alice = await store.add_user(NewUser("alice", mobile="+15550100"))
    token = await store.add_token("alice", NewToken("totp", b"a" * 20))

    assert await store.get_user(typed) == alice
    user, tokens = await store.login_view(typed)
    assert user == alice and [t.id for t in tokens] == [token.id]
    assert [t.id for t in await store.list_tokens(typed)] == [token.id]
    assert await store.set_password_hash(typed, "h") is True
    assert (await store.get_user("alice")).password_hash == "h"


@pytest.mark.parametrize("typed", ["ALICE", "alice@corp.example", "CORP\\alice"])
async def test_tokens_and_deletion_by_any_spelling(store: Store, typed: str) -> None:
    await store.add_user(NewUser("alice"))
    token = await store.add_token(typed, NewToken("totp", b"a" * 20))
    assert token.username == "alice"  # the stored name, as list_tokens shows it
    assert [t.username for t in await store.list_tokens()] == ["alice"]
    assert await store.delete_user(typed) is True
    assert await store.get_user("alice") is None
    assert await store.list_tokens() == []


@pytest.mark.parametrize("second", ["Alice", "ALICE", "alice@corp.example", "CORP\\alice", "\uff41lice"])
async def test_another_spelling_of_a_taken_name_is_already_exists(store: Store, second: str) -> None:
    await store.add_user(NewUser("alice"))
    with pytest.raises(AlreadyExists, match=r"already exists as 'alice'"):
        await store.add_user(NewUser(second))
    assert [u.name for u in await store.list_users()] == ["alice"]


async def test_the_name_is_kept_as_added(store: Store) -> None:
    added = await store.add_user(NewUser("CORP\\Alice.Smith"))
    assert added.name == "CORP\\Alice.Smith"
    assert (await store.get_user("alice.smith")) == added
    assert [u.name for u in await store.list_users()] == ["CORP\\Alice.Smith"]
    user, _ = await store.login_view("ALICE.SMITH@corp.example")
    assert user is not None and user.name == "CORP\\Alice.Smith"


async def test_unicode_spellings_are_one_user(store: Store) -> None:
    await store.add_user(NewUser("jos\u00e9"))  # é precomposed
    assert (await store.get_user("JOSE\u0301")) is not None  # E + combining acute
    await store.add_user(NewUser("strasse"))
    with pytest.raises(AlreadyExists):
        await store.add_user(NewUser("Straße"))


async def test_different_users_stay_different(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    await store.add_user(NewUser("alice2"))
    assert (await store.get_user("ALICE2")).name == "alice2"
    assert await store.get_user("alic") is None
    with pytest.raises(NotFound):
        await store.add_token("bob@corp.example", NewToken("totp", b"b" * 20))


@pytest.mark.parametrize("name", ["CORP\\", "@corp.example", "CORP\\@corp"])
async def test_a_name_with_an_empty_key_is_refused(store: Store, name: str) -> None:
    with pytest.raises(StoreError, match="nothing left"):
        await store.add_user(NewUser(name))
    assert await store.list_users() == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("alice\x00", "U\\+0000, a control character"),
        ("alice\u200b", "U\\+200B, an invisible format character"),
        (" alice", "starts or ends with a space"),
        ("alice ", "starts or ends with a space"),
        ("  ", "starts or ends with a space"),
        ("CORP\\ alice", "starts or ends with a space"),
        ("al  ice", "two spaces in a row"),
        ("", "is empty"),
        ("a" * 254, "longer than 253 octets"),
    ],
)
async def test_a_name_no_login_could_use_is_refused(store: Store, name: str, why: str) -> None:
    # The same rule as for a User-Name (core.policy.name_problem), so every
    # user in the store can be named by a login, and only by their own.
    with pytest.raises(StoreError, match=why):
        await store.add_user(NewUser(name))
    assert await store.list_users() == []


# -- upgrading a database that already has users -------------------------------------


async def _version_1(backend: Backend, names: list[str]) -> None:
    """A database as radmfa left it at schema version 1, with these users."""
    dialect = schema.SQLITE if backend.name == "sqlite" else schema.POSTGRES
    await backend.raw(schema.version_table(dialect))
    for statement in schema.migrations(dialect)[0].statements:
        assert isinstance(statement, str)
        await backend.raw(statement)
    await backend.raw("INSERT INTO schema_version (version, applied_at) VALUES (1, 0)")
    for name in names:
        await backend.raw("INSERT INTO users (name, created_at) VALUES (?, 0)", name)
    await backend.raw(
        "INSERT INTO tokens (user_id, kind, secret_enc, digits, period, algorithm, created_at) "
        "SELECT id, 'totp', ?, 6, 30, 'sha1', 0 FROM users WHERE name = ?",
        b"",
        names[0],
    )


async def test_upgrade_gives_existing_users_their_keys(backend: Backend) -> None:
    await _version_1(backend, ["CORP\\Bob", "jose\u0301@corp.example", "Carol"])
    store = await backend.open()
    assert (await store.get_user("bob")).name == "CORP\\Bob"
    assert (await store.get_user("JOS\u00c9")).name == "jose\u0301@corp.example"
    assert (await store.get_user("corp\\carol")).name == "Carol"
    keys = await backend.raw("SELECT name_key FROM users ORDER BY id")
    assert keys == [("bob",), ("jos\u00e9",), ("carol",)]
    with pytest.raises(AlreadyExists, match=re.escape(repr("CORP\\Bob"))):
        await store.add_user(NewUser("BOB"))
    # The wrong-code columns arrive with their defaults.
    assert await backend.raw("SELECT fail_count, failed_at FROM tokens") == [(0, None)]


async def test_upgrade_refuses_users_that_become_one(backend: Backend) -> None:
    await _version_1(backend, ["alice", "bob", "ALICE@corp.example"])
    with pytest.raises(StoreError, match="'alice' and 'ALICE@corp.example' are one user.*delete one"):
        await backend.open()
    # Nothing half-done: still version 1, no new column, and the store opens
    # once one of the two is gone.
    assert await backend.raw("SELECT version FROM schema_version") == [(1,)]
    with pytest.raises(Exception, match="name_key"):
        await backend.raw("SELECT name_key FROM users")
    await backend.raw("DELETE FROM users WHERE name = ?", "ALICE@corp.example")
    store = await backend.open()
    assert (await store.get_user("ALICE")).name == "alice"


# -- 0012: name_key became NFKC, so the store folds names as the directory does -----------


async def test_fullwidth_and_plain_spellings_are_one_user(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    assert (await store.get_user("\uff41\uff4c\uff49\uff43\uff45")).name == "alice"  # ａｌｉｃｅ
    assert (await store.get_user("CORP\uff3c\uff21lice")).name == "alice"  # full-width backslash
    with pytest.raises(AlreadyExists):
        await store.add_user(NewUser("\uff41lice"))


async def _at_version_11(backend: Backend, names: list[str]) -> None:
    """A database at schema 11: keys were NFC, not NFKC."""
    store = await backend.open()
    await store.close()
    backend.opened.remove(store)
    for name in names:
        old_key = unicodedata.normalize("NFC", name).casefold().strip()
        await backend.raw("INSERT INTO users (name, name_key, created_at) VALUES (?, ?, 0)", name, old_key)
    await backend.raw("DELETE FROM schema_version WHERE version > 11")
    # Undo what the migrations after 12 added, so they apply again on open.
    await backend.raw("ALTER TABLE users DROP COLUMN push_enrolled")  # 0013
    await backend.raw("DROP TABLE ldap_rebinds")  # 0015
    await backend.raw("DROP TABLE web_sessions")  # 0016
    await backend.raw("DROP TABLE enrollment_links")  # 0016
    await backend.raw("DROP TABLE nas_sessions")  # 0017
    await backend.raw("DROP TABLE push_streaks")  # 0018
    await backend.raw("DROP INDEX oob_sessions_waiter")  # 0018
    await backend.raw("DROP TABLE settings")  # 0019
    await backend.raw("DROP TABLE settings_version")  # 0019
    await backend.raw("DROP TABLE admins")  # 0019
    await backend.raw("DROP TABLE sync_results")  # 0020
    await backend.raw("DROP TABLE component_health")  # 0021
    for index in ("users_name_key_prefix", "users_mobile_prefix", "users_email_prefix"):  # 0019
        await backend.raw(f"DROP INDEX {index}")


async def test_upgrade_to_nfkc_rekeys_users(backend: Backend) -> None:
    await _at_version_11(backend, ["\uff42\uff4f\uff42", "carol", "\ufb01sh"])  # ｂｏｂ, ﬁsh
    store = await backend.open()
    assert await backend.raw("SELECT name_key FROM users ORDER BY id") == [("bob",), ("carol",), ("fish",)]
    assert (await store.get_user("BOB")).name == "\uff42\uff4f\uff42"


FULLWIDTH = "\uff41\uff4c\uff49\uff43\uff45"  # ａｌｉｃｅ


async def test_upgrade_to_nfkc_refuses_users_that_become_one(backend: Backend) -> None:
    await _at_version_11(backend, ["alice", FULLWIDTH])
    with pytest.raises(StoreError, match=f"'alice' and '{FULLWIDTH}' are one user.*width.*delete one"):
        await backend.open()
    assert await backend.raw("SELECT MAX(version) FROM schema_version") == [(11,)]
    assert await backend.raw("SELECT name_key FROM users ORDER BY id") == [("alice",), (FULLWIDTH,)]
    await backend.raw("DELETE FROM users WHERE name = ?", "alice")
    store = await backend.open()
    assert (await store.get_user("alice")).name == FULLWIDTH
