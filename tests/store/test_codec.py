"""Pure pieces of the store: attribute packing, epoch times, schema rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from radmfa.errors import StoreError
from radmfa.store import schema
from radmfa.store.codec import from_epoch, pack_attrs, to_epoch, unpack_attrs


def test_attrs_round_trip() -> None:
    attrs = ((1, b""), (26, bytes(range(253))), (255, b"\x00\xff"), (25, b"x" * 300))
    packed = pack_attrs(attrs)
    assert len(packed) == sum(3 + len(v) for _, v in attrs)
    assert unpack_attrs(packed) == attrs
    assert unpack_attrs(pack_attrs(())) == ()


@pytest.mark.parametrize("attr", [(256, b""), (-1, b""), (1, b"x" * 65536)])
def test_unstorable_attr_is_refused(attr: tuple[int, bytes]) -> None:
    with pytest.raises(ValueError, match="cannot be stored"):
        pack_attrs((attr,))


@pytest.mark.parametrize("packed", [b"\x01", b"\x01\x00\x05abc"])
def test_truncated_attrs_are_store_errors(packed: bytes) -> None:
    with pytest.raises(StoreError, match="truncated"):
        unpack_attrs(packed)


def test_epoch_round_trip_keeps_microseconds() -> None:
    when = datetime(2031, 5, 6, 7, 8, 9, 999_999, tzinfo=UTC)
    assert from_epoch(to_epoch(when)) == when
    assert from_epoch(to_epoch(when)).tzinfo is UTC
    other_zone = when.astimezone(timezone(timedelta(hours=-5)))
    assert to_epoch(other_zone) == to_epoch(when)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        to_epoch(datetime(2031, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize("dialect", [schema.SQLITE, schema.POSTGRES], ids=["sqlite", "postgres"])
def test_every_migration_renders_completely(dialect: dict[str, str]) -> None:
    migrations = schema.migrations(dialect)
    assert [m.version for m in migrations] == list(range(1, schema.latest_version() + 1))
    for migration in migrations:
        assert migration.statements
        for step in migration.statements:
            texts = (step.select, step.update) if isinstance(step, schema.Backfill) else (step,)
            for text in texts:
                assert not re.search(r"[{}@]", text), text
    assert "{" not in schema.version_table(dialect)


def test_backfill_steps_are_found_where_the_migration_names_them() -> None:
    [name_keys] = [m for m in schema.migrations(schema.SQLITE) if m.name == "user_name_keys"]
    kinds = [type(step).__name__ for step in name_keys.statements]
    assert kinds == ["str", "Backfill", "str"]  # column, then keys, then the unique index
    assert name_keys.statements[1] is schema.BACKFILLS["users.name_key"]


def test_name_key_backfill_refuses_colliding_and_empty_names() -> None:
    fill = schema.BACKFILLS["users.name_key"].compute
    assert fill([(1, "alice"), (2, "CORP\\Bob")]) == [("alice", 1), ("bob", 2)]
    with pytest.raises(StoreError, match="'alice' and 'ALICE@corp' are one user.*delete one"):
        fill([(1, "alice"), (2, "ALICE@corp")])
    with pytest.raises(StoreError, match=re.escape(repr("CORP\\") + " has no name left")):
        fill([(1, "CORP\\")])


def test_dialects_map_the_same_placeholders() -> None:
    assert schema.SQLITE.keys() == schema.POSTGRES.keys()


def test_pending_refuses_a_newer_database() -> None:
    latest = schema.latest_version()
    assert schema.pending(latest, schema.SQLITE) == []
    assert len(schema.pending(0, schema.SQLITE)) == latest
    with pytest.raises(StoreError, match="upgrade radmfa"):
        schema.pending(latest + 1, schema.SQLITE)
