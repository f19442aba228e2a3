"""Encryption at rest for token seeds and session reply attributes.

AES-256-GCM with a 32-byte key from ``key_file``. Every ciphertext is bound to
where it is stored (AAD such as ``b"tokens.secret_enc:17"``), so someone who
can write the database cannot move a known seed into another user's row.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from radmfa.errors import StoreError

KEY_BYTES = 32
_NONCE_BYTES = 12  # NIST SP 800-38D §8.2: 96-bit random nonces
# Leading format byte so that a later key rotation can tell old blobs from new.
_FORMAT = b"\x01"


class SeedCipher:
    """Seals and opens small secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes, *, source: str = "the key") -> None:
        if len(key) != KEY_BYTES:
            raise StoreError(f"{source} must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._source = source

    def __repr__(self) -> str:  # never show the key
        return f"SeedCipher({self._source})"

    @property
    def source(self) -> str:
        """Where the key came from, for messages (e.g. "key_file /var/lib/radmfa/radmfa.key")."""
        return self._source

    @classmethod
    def from_file(cls, key_file: Path, *, create: bool = True) -> SeedCipher:
        """Read the key, creating a fresh random one when absent and ``create``."""
        if create and not key_file.exists():
            create_key_file(key_file)
        return cls(_read_key_file(key_file), source=f"key_file {key_file}")

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, blob: bytes, *, context: bytes, what: str = "token seeds") -> bytes:
        """Open ``blob``; a wrong key, a moved or a damaged blob is a StoreError."""
        head = len(_FORMAT) + _NONCE_BYTES
        if blob[:1] != _FORMAT or len(blob) < head:
            raise StoreError(f"cannot decrypt {what}: stored value is damaged")
        nonce = blob[len(_FORMAT) : head]
        try:
            return self._aead.decrypt(nonce, blob[head:], context)
        except InvalidTag:
            message = f"cannot decrypt {what} with {self._source}: wrong key_file?"
            raise StoreError(message) from None


def _read_key_file(key_file: Path) -> bytes:
    try:
        mode = key_file.stat().st_mode
        if mode & 0o077:
            raise StoreError(
                f"key_file {key_file} is accessible to group or others "
                f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {key_file}"
            )
        data = key_file.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"key_file {key_file} does not exist") from None
    except OSError as exc:
        raise StoreError(f"cannot read key_file {key_file}: {exc.strerror}") from None
    return _decode_key(data, key_file)


def _decode_key(data: bytes, key_file: Path) -> bytes:
    """Raw 32 bytes, or the text `openssl rand -hex 32` / `-base64 32` prints."""
    if len(data) == KEY_BYTES:
        return data
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii")) if len(text) == 2 * KEY_BYTES else b""
        key = key or base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != KEY_BYTES:
        raise StoreError(
            f"key_file {key_file} must hold {KEY_BYTES} random bytes "
            f"(raw, hex or base64); it holds {len(data)} bytes that are none of these"
        )
    return key


def create_key_file(key_file: Path) -> None:
    """Write a new key so that the file only ever appears complete; a missing
    folder is created 0700 (only radmfa's user needs to enter it).

    Several worker processes may start at once. Each writes its own temporary
    file and link(2)s it into place; link fails when the name exists, so
    exactly one key wins and nobody ever reads a half-written file.
    """
    tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        _make_private_folder(key_file.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            return  # another process created it first; use theirs
        _fsync_dir(key_file.parent)
    except OSError as exc:
        raise StoreError(f"cannot create key_file {key_file}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _make_private_folder(folder: Path) -> None:
    """Create ``folder`` (and missing parents, as ``mkdir -p``) unless it exists;
    the folder itself ends up 0700 whatever the umask."""
    if folder.is_dir():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return  # another process made it first
    folder.chmod(0o700)  # mkdir's mode passes through the umask
    _fsync_dir(folder.parent)


def _fsync_dir(directory: Path) -> None:
    # The new directory entry must survive a power cut, or the seeds encrypted
    # with this key are lost with it.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
