"""Stores: one schema for every backend, chosen by the ``store.url`` setting.

* ``sqlite:///radmfa.db``: relative to the config file's directory
* ``sqlite:////var/lib/radmfa/radmfa.db``: absolute
* ``postgresql://user@host:5432/db`` (or ``postgres://``)
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

from radmfa.core.admin_ports import Store
from radmfa.errors import ConfigError, StoreError
from radmfa.store.seeds import KEY_BYTES, SeedCipher, create_key_file
from radmfa.store.sql import SqlStore

__all__ = ["open_store", "redact_url"]

_URL_FORMS = "sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host:port/db"


async def open_store(url: str, *, key_file: Path, base_dir: Path, create_key: bool = True) -> Store:
    """Open the store at ``url``, bring its schema up to date and check the key.

    Relative paths (the SQLite file, ``key_file``) are taken from ``base_dir``,
    the directory of the config file. A missing key file is created (with its
    folder, 0700) only for a database no key was ever used with: a new key
    cannot open seeds sealed with the lost one. Raises ConfigError for a URL we
    cannot use and StoreError when the database or key file refuses.
    """
    shown = redact_url(url)
    try:
        scheme = urlsplit(url).scheme
    except ValueError as exc:  # e.g. an unclosed [ipv6 literal; the text holds no secret
        raise ConfigError(f"store url is not a valid URL ({exc}); use {_URL_FORMS}") from None
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"store url {shown!r}: unsupported; use {_URL_FORMS}")
    path = _sqlite_path(url, base_dir, shown) if scheme == "sqlite" else ""
    key_path = base_dir / key_file
    if create_key and not key_path.exists():
        # Opened once without the key (nothing is sealed or opened) to see whether it needs the old one.
        store = await _open_migrated(url, path, SeedCipher(secrets.token_bytes(KEY_BYTES), source="no key"), shown)
        try:
            sealed = await store.sealed_seeds()
        finally:
            await store.close()
        # Another worker starting beside us may have created the key and sealed
        # the key check with it meanwhile (it creates the file first).
        if sealed is not None and not key_path.exists():
            raise StoreError(_missing_key(key_path, shown, sealed))
        create_key_file(key_path)  # exclusive: a key another worker made stays
    store = await _open_migrated(url, path, SeedCipher.from_file(key_path, create=False), shown)
    try:
        await store.check_key()
    except BaseException:
        await store.close()
        raise
    return store


async def _open_migrated(url: str, path: str, cipher: SeedCipher, shown: str) -> SqlStore:
    store: SqlStore
    if path:
        from radmfa.store.sqlite import SqliteStore

        store = await SqliteStore.open(path, cipher)
    else:
        from radmfa.store.postgres import PostgresStore  # asyncpg only when configured

        store = await PostgresStore.open(url, cipher, shown_url=shown)
    try:
        await store.migrate()
    except BaseException:
        await store.close()
        raise
    return store


def _missing_key(key_path: Path, shown: str, seeds: int) -> str:
    held = f"{seeds} token seed{'s' if seeds != 1 else ''} sealed with it" if seeds else "its key check"
    return (
        f"key_file {key_path} is missing, but the store {shown} was set up with a key and holds {held}: "
        "restore the original key file (from a backup, or from another node of this store); "
        "radmfa does not create a new key for a store that already has one"
    )


def redact_url(url: str) -> str:
    """``url`` with any password (in the user part or the query) replaced by ***.

    Plain text search, not urlsplit: a password with an unescaped ``#``, ``/``,
    ``?`` or ``@`` ends urlsplit's netloc early and would be shown. Everything
    from the user name's ``:`` to the last ``@`` after ``//`` goes; when the
    query holds an ``@`` too that hides more than the password, never less.
    """
    slashes, at = url.find("//"), url.rfind("@")
    if at > slashes:
        # Without '//' this is no URL we accept; keep nothing of its user part.
        start = slashes + 2 if slashes >= 0 else 0
        user, colon, _ = url[start:at].partition(":")
        if colon:
            url = f"{url[:start]}{user if slashes >= 0 else ''}:***{url[at:]}"
    # To the next '&' only: a '#' may be part of the password.
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def _sqlite_path(url: str, base_dir: Path, shown: str) -> str:
    parts = urlsplit(url)
    # urlsplit leaves one '/' before a relative path and two before an absolute one.
    rest = unquote(parts.path)[1:]
    if parts.netloc or not rest or parts.query:
        raise ConfigError(f"store url {shown!r}: write {_URL_FORMS}")
    if rest == ":memory:":  # one private database per store; for tests
        return rest
    return str(base_dir / rest)
