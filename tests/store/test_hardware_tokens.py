"""The Store contract for hardware tokens: import (all or nothing), assign, find by serial."""

from __future__ import annotations

import asyncio

import pytest

from radmfa.core.admin_model import HardwareToken
from radmfa.core.admin_ports import Store
from radmfa.core.model import NewUser
from radmfa.errors import AlreadyExists, NotFound, StoreError
from tests.store.conftest import Backend

SEED = b"12345678901234567890"


def hw(serial: str, kind: str = "hotp", counter: int = 0) -> HardwareToken:
    return HardwareToken(serial, kind, SEED + serial.encode(), digits=8, counter=counter, label="Acme")


async def test_import_list_and_seeds_sealed(store: Store, backend: Backend) -> None:
    assert await store.import_hardware_tokens([hw("B2"), hw("A1", "totp")]) == 2
    listed = await store.list_hardware_tokens()
    assert [(t.serial, t.kind, t.digits, t.label, t.secret) for t in listed] == [
        ("A1", "totp", 8, "Acme", SEED + b"A1"), ("B2", "hotp", 8, "Acme", SEED + b"B2"),
    ]
    assert all(t.imported_at is not None for t in listed)
    raw = await backend.raw("SELECT secret_enc FROM hardware_tokens")
    assert all(SEED not in bytes(r[0]) for r in raw)


async def test_a_seed_moved_to_another_serial_does_not_open(store: Store, backend: Backend) -> None:
    await store.import_hardware_tokens([hw("A1"), hw("B2")])
    [(sealed,)] = await backend.raw("SELECT secret_enc FROM hardware_tokens WHERE serial = ?", "A1")
    await backend.raw("UPDATE hardware_tokens SET secret_enc = ? WHERE serial = ?", bytes(sealed), "B2")
    with pytest.raises(StoreError, match="cannot decrypt"):
        await store.list_hardware_tokens()


async def test_import_is_all_or_nothing(store: Store) -> None:
    await store.import_hardware_tokens([hw("A1")])
    with pytest.raises(AlreadyExists, match="A1"):
        await store.import_hardware_tokens([hw("C3"), hw("A1")])
    with pytest.raises(AlreadyExists, match="appears twice"):
        await store.import_hardware_tokens([hw("D4"), hw("D4")])
    assert [t.serial for t in await store.list_hardware_tokens()] == ["A1"]


async def test_assign_moves_the_token_and_keeps_the_counter(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    await store.import_hardware_tokens([hw("A1", counter=5), hw("B2")])
    token = await store.assign_hardware_token("A1", "ALICE")
    assert (token.serial, token.kind, token.username, token.last_step, token.secret) == (
        "A1", "hotp", "alice", 4, SEED + b"A1"
    )
    assert [t.serial for t in await store.list_hardware_tokens()] == ["B2"]
    _, tokens = await store.login_view("alice")
    assert [(t.serial, t.last_step, t.digits) for t in tokens] == [("A1", 4, 8)]
    found = await store.get_token_by_serial("A1")
    assert found is not None and found.id == token.id and found.username == "alice"
    assert await store.get_token_by_serial("B2") is None
    assert (await store.assign_hardware_token("B2", "alice")).last_step is None  # counter 0: nothing used yet


async def test_assign_errors_change_nothing(store: Store) -> None:
    await store.add_user(NewUser("alice"))
    await store.import_hardware_tokens([hw("A1")])
    with pytest.raises(NotFound, match="no such user: bob"):
        await store.assign_hardware_token("A1", "bob")
    assert [t.serial for t in await store.list_hardware_tokens()] == ["A1"]
    with pytest.raises(NotFound, match="no unassigned hardware token with serial 'Z9'"):
        await store.assign_hardware_token("Z9", "alice")
    await store.assign_hardware_token("A1", "alice")
    with pytest.raises(AlreadyExists, match="already assigned to 'alice'"):
        await store.assign_hardware_token("A1", "alice")
    with pytest.raises(AlreadyExists, match="already imported: serial A1"):
        await store.import_hardware_tokens([hw("A1")])


async def test_two_workers_assigning_one_token_only_one_wins(store: Store, backend: Backend) -> None:
    other = await backend.open()
    await store.add_user(NewUser("alice"))
    await store.add_user(NewUser("bob"))
    await store.import_hardware_tokens([hw("A1")])
    results = await asyncio.gather(
        store.assign_hardware_token("A1", "alice"), other.assign_hardware_token("A1", "bob"), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert len(await store.list_tokens()) == 1


async def test_deleting_the_user_frees_nothing_twice(store: Store) -> None:
    # The token goes with its user (ON DELETE CASCADE); its serial can be imported again.
    await store.add_user(NewUser("alice"))
    await store.import_hardware_tokens([hw("A1")])
    await store.assign_hardware_token("A1", "alice")
    await store.delete_user("alice")
    assert await store.import_hardware_tokens([hw("A1")]) == 1


async def test_assignment_is_one_transaction(store: Store, backend: Backend) -> None:
    # The tokens row and the removal of the unassigned row commit together.
    # Make the removal fail: the token must not be assigned (half done, it
    # would be assigned and still listed as unassigned).
    await store.add_user(NewUser("alice"))
    await store.import_hardware_tokens([hw("A1")])
    if backend.name == "sqlite":
        await backend.raw(
            "CREATE TRIGGER no_delete BEFORE DELETE ON hardware_tokens BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    else:
        await backend.raw(
            "CREATE FUNCTION no_delete() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql"
        )
        await backend.raw(
            "CREATE TRIGGER no_delete BEFORE DELETE ON hardware_tokens FOR EACH ROW EXECUTE FUNCTION no_delete()"
        )
    with pytest.raises(Exception, match="boom"):  # noqa: PT011 - the backend's own error type
        await store.assign_hardware_token("A1", "alice")
    assert await store.list_tokens("alice") == []
    assert [t.serial for t in await store.list_hardware_tokens()] == ["A1"]
