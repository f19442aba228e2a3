"""Stores: one schema for every backend, chosen by the ``store.url`` setting.

* ``sqlite:///radmfa.db``: relative to the config file's directory
* ``sqlite:////var/lib/radmfa/radmfa.db``: absolute
* ``postgresql://user@host:5432/db`` (or ``postgres://``)
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from radmfa.core.ports import Store
from radmfa.errors import ConfigError
from radmfa.store.seeds import SeedCipher
from radmfa.store.sql import SqlStore

__all__ = ["open_store", "redact_url"]

_URL_FORMS = "sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host:port/db"


async def open_store(url: str, *, key_file: Path, base_dir: Path, create_key: bool = True) -> Store:
    """Open the store at ``url``, bring its schema up to date and check the key.

    Relative paths (the SQLite file, ``key_file``) are taken from ``base_dir``,
    the directory of the config file. Raises ConfigError for a URL we cannot
    use and StoreError when the database or key file refuses.
    """
    shown = redact_url(url)
    try:
        scheme = urlsplit(url).scheme
    except ValueError as exc:  # e.g. an unclosed [ipv6 literal; the text holds no secret
        raise ConfigError(f"store url is not a valid URL ({exc}); use {_URL_FORMS}") from None
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"store url {shown!r}: unsupported; use {_URL_FORMS}")
    path = _sqlite_path(url, base_dir, shown) if scheme == "sqlite" else ""
    cipher = SeedCipher.from_file(base_dir / key_file, create=create_key)
    store: SqlStore
    if scheme == "sqlite":
        from radmfa.store.sqlite import SqliteStore

        store = await SqliteStore.open(path, cipher)
    else:
        from radmfa.store.postgres import PostgresStore  # asyncpg only when configured

        store = await PostgresStore.open(url, cipher, shown_url=shown)
    try:
        await store.migrate()
        await store.check_key()
    except BaseException:
        await store.close()
        raise
    return store


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
