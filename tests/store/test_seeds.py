"""SeedCipher and its key file: creation, permissions, formats, tampering."""

from __future__ import annotations

import base64
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from radmfa.errors import StoreError
from radmfa.store.seeds import SeedCipher

KEY = bytes(range(32))


def test_round_trip_is_bound_to_context() -> None:
    cipher = SeedCipher(KEY)
    blob = cipher.encrypt(b"seed", context=b"tokens.secret_enc:1")
    assert cipher.decrypt(blob, context=b"tokens.secret_enc:1") == b"seed"
    assert blob != cipher.encrypt(b"seed", context=b"tokens.secret_enc:1")  # fresh nonce
    with pytest.raises(StoreError, match="cannot decrypt token seeds.*wrong key_file"):
        cipher.decrypt(blob, context=b"tokens.secret_enc:2")


def test_wrong_key_and_damage_are_store_errors() -> None:
    blob = SeedCipher(KEY).encrypt(b"seed", context=b"c")
    with pytest.raises(StoreError, match="wrong key_file"):
        SeedCipher(bytes(32)).decrypt(blob, context=b"c")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(StoreError, match="cannot decrypt"):
        SeedCipher(KEY).decrypt(flipped, context=b"c")
    with pytest.raises(StoreError, match="damaged"):
        SeedCipher(KEY).decrypt(b"\x01short", context=b"c")
    with pytest.raises(StoreError, match="session reply attributes"):
        SeedCipher(KEY).decrypt(b"", context=b"c", what="session reply attributes")


def test_missing_key_file_is_created_0600(tmp_path: Path) -> None:
    key_file = tmp_path / "seed.key"
    old = os.umask(0)  # the file must be private whatever the umask
    try:
        SeedCipher.from_file(key_file)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    assert [p.name for p in tmp_path.iterdir()] == ["seed.key"]  # no temporary left


def test_concurrent_creation_yields_one_key(tmp_path: Path) -> None:
    key_file = tmp_path / "seed.key"
    with ThreadPoolExecutor(8) as pool:
        ciphers = list(pool.map(lambda _: SeedCipher.from_file(key_file), range(16)))
    sealed = ciphers[0].encrypt(b"seed", context=b"c")
    assert all(c.decrypt(sealed, context=b"c") == b"seed" for c in ciphers)
    assert [p.name for p in tmp_path.iterdir()] == ["seed.key"]


def test_missing_key_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="seed.key does not exist"):
        SeedCipher.from_file(tmp_path / "seed.key", create=False)
    assert not (tmp_path / "seed.key").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "seed.key"
    key_file.write_bytes(KEY)
    key_file.chmod(mode)
    with pytest.raises(StoreError, match=f"mode 0{mode:o}.*chmod 600"):
        SeedCipher.from_file(key_file)


@pytest.mark.parametrize(
    "content",
    [KEY, KEY.hex().encode() + b"\n", base64.b64encode(KEY) + b"\n"],
    ids=["raw", "hex", "base64"],
)
def test_key_file_formats(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "seed.key"
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    blob = SeedCipher(KEY).encrypt(b"seed", context=b"c")
    assert SeedCipher.from_file(key_file).decrypt(blob, context=b"c") == b"seed"


def test_key_file_of_wrong_size_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "seed.key"
    key_file.write_bytes(b"too short\n")
    key_file.chmod(0o600)
    with pytest.raises(StoreError, match="must hold 32 random bytes"):
        SeedCipher.from_file(key_file)


def test_repr_hides_the_key(tmp_path: Path) -> None:
    cipher = SeedCipher(KEY, source="key_file /etc/radmfa/seed.key")
    assert KEY.hex() not in repr(cipher) and "seed.key" in repr(cipher)
