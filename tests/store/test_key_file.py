"""The key file and the database file on disk: where they are created, with
which modes, and when radmfa refuses to make a new key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from radmfa.core.model import NewToken, NewUser
from radmfa.errors import StoreError
from radmfa.store import open_store
from tests.store.conftest import Backend

SEED = b"0123456789abcdefghij"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask of a shell outside systemd (022) or looser: files must be private anyway."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_key_file_in_a_missing_folder_creates_the_folder_0700(tmp_path: Path, open_umask: None) -> None:
    key_file = Path("state/keys/radmfa.key")  # two folders that do not exist yet
    store = await open_store("sqlite:///radmfa.db", key_file=key_file, base_dir=tmp_path)
    await store.close()
    assert mode(tmp_path / key_file) == 0o600
    assert mode(tmp_path / "state/keys") == 0o700
    assert [p.name for p in (tmp_path / "state/keys").iterdir()] == ["radmfa.key"]  # no temporary left


async def test_missing_key_for_a_store_holding_seeds_is_refused_and_none_is_made(backend: Backend) -> None:
    store = await backend.open()
    await store.add_user(NewUser("alice"))
    await store.add_token("alice", NewToken("totp", SEED))
    await store.close()
    original = backend.key_file.read_bytes()
    backend.key_file.unlink()

    with pytest.raises(StoreError) as refused:
        await backend.open()
    message = str(refused.value)
    assert f"key_file {backend.key_file} is missing" in message
    assert "1 token seed sealed with it" in message
    assert "restore the original key file" in message
    assert not backend.key_file.exists()  # no new key to be blamed later

    # The seed is intact: the original key opens it.
    backend.key_file.write_bytes(original)
    backend.key_file.chmod(0o600)
    store = await backend.open()
    [token] = await store.list_tokens("alice")
    assert token.secret == SEED


async def test_missing_key_for_a_store_once_opened_with_a_key_is_refused(backend: Backend) -> None:
    # No seeds yet, but other nodes may hold that key and seal with it: a
    # second key for one database would split it.
    await (await backend.open()).close()
    backend.key_file.unlink()
    with pytest.raises(StoreError, match=r"is missing, but the store .* holds its key check"):
        await backend.open()
    assert not backend.key_file.exists()


async def test_a_new_store_gets_a_new_key(backend: Backend) -> None:
    assert not backend.key_file.exists()
    store = await backend.open()
    await store.add_user(NewUser("alice"))
    assert mode(backend.key_file) == 0o600


async def test_sqlite_files_are_created_0600_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    store = await open_store("sqlite:///radmfa.db", key_file=Path("radmfa.key"), base_dir=tmp_path)
    try:
        await store.add_user(NewUser("alice"))  # the write-ahead log and its index exist while open
        files = {p.name: mode(p) for p in tmp_path.glob("radmfa.db*")}
    finally:
        await store.close()
    assert files == {"radmfa.db": 0o600, "radmfa.db-wal": 0o600, "radmfa.db-shm": 0o600}
