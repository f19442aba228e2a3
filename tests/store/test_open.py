"""open_store: URL forms, where relative paths lead, and errors people read."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radmfa.core.model import ExemptionView, NewToken, NewUser, Phase, Session
from radmfa.errors import ConfigError, StoreError
from radmfa.store import open_store, redact_url
from radmfa.store.sqlite import SqliteStore


async def test_relative_sqlite_path_is_under_base_dir(tmp_path: Path) -> None:
    (tmp_path / "etc" / "data").mkdir(parents=True)
    store = await open_store(
        "sqlite:///data/radmfa.db", key_file=Path("seed.key"), base_dir=tmp_path / "etc"
    )
    await store.close()
    assert (tmp_path / "etc" / "data" / "radmfa.db").exists()
    assert (tmp_path / "etc" / "seed.key").exists()


async def test_absolute_sqlite_path(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/abs.db"  # four slashes in all
    assert url.startswith("sqlite:////")
    store = await open_store(url, key_file=tmp_path / "seed.key", base_dir=Path("/nonexistent"))
    await store.close()
    assert (tmp_path / "abs.db").exists()


async def test_memory_database(tmp_path: Path) -> None:
    store = await open_store("sqlite:///:memory:", key_file=Path("k"), base_dir=tmp_path)
    try:
        await store.add_user(NewUser("alice"))
        assert (await store.get_user("alice")) is not None
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter2@db/radmfa", "radmfa.db", "http://u:hunter2@x/?password=hunter2"]
)
async def test_unknown_scheme_is_config_error_without_password(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="store url") as caught:
        await open_store(url, key_file=Path("k"), base_dir=tmp_path)
    assert "hunter2" not in str(caught.value)
    assert not (tmp_path / "k").exists()  # nothing created for a URL we refuse


@pytest.mark.parametrize("url", ["sqlite://radmfa.db", "sqlite:///", "sqlite:///x.db?mode=ro"])
async def test_malformed_sqlite_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="sqlite:///relative.db"):
        await open_store(url, key_file=Path("k"), base_dir=tmp_path)


@pytest.mark.parametrize(
    "url", ["postgresql://u:hunter2@[::1/db", "postgresql://u:hunter2@h:notaport/db"]
)
async def test_unparsable_url_is_config_error_without_password(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="store url") as caught:
        await open_store(url, key_file=Path("k"), base_dir=tmp_path)
    assert "hunter2" not in str(caught.value)


async def test_sqlite_in_missing_directory_is_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no/such/dir/radmfa.db"):
        await open_store("sqlite:///no/such/dir/radmfa.db", key_file=Path("k"), base_dir=tmp_path)


async def test_unreachable_postgres_is_store_error_without_password(tmp_path: Path) -> None:
    url = "postgresql://radmfa:hunter2@127.0.0.1:1/radmfa"  # port 1: refused at once
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL") as caught:
        await open_store(url, key_file=Path("k"), base_dir=tmp_path)
    assert "hunter2" not in str(caught.value)
    assert "radmfa:***@127.0.0.1:1" in str(caught.value)


@pytest.mark.integration
async def test_postgres_scheme_alias(fresh_postgres_url: str, tmp_path: Path) -> None:
    url = fresh_postgres_url.replace("postgresql://", "postgres://", 1)
    store = await open_store(url, key_file=Path("k"), base_dir=tmp_path)
    try:
        await store.add_user(NewUser("alice"))
        assert [u.name for u in await store.list_users()] == ["alice"]
    finally:
        await store.close()


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://u@h/db?password=x&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert redact_url("sqlite:////var/lib/radmfa.db") == "sqlite:////var/lib/radmfa.db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.parametrize(
    "url",
    [
        # Unescaped characters that end urlsplit's netloc before the real '@'.
        "postgresql://u:p#ss@h/db",
        "postgresql://u:p/ss@h/db",
        "postgresql://u:p?ss@h/db",
        "postgresql://u:p@ss@h/db",
        "postgresql://u:p:ss@h/db",
        "postgresql://u:p#s/s?s@s@h/db",
    ],
)
def test_redact_url_hides_passwords_with_url_syntax_in_them(url: str) -> None:
    assert redact_url(url) == "postgresql://u:***@h/db"


def test_redact_url_hides_more_rather_than_less() -> None:
    # An '@' in the query too: the host goes with the password, nothing leaks.
    assert redact_url("postgresql://u:pw@h/db?application_name=a@b") == "postgresql://u:***@b"
    assert redact_url("user:pw@h/db") == ":***@h/db"  # no '//': no user part kept
    assert redact_url("postgresql://u@h/db?password=p#ss&x=1") == "postgresql://u@h/db?password=***&x=1"
    assert redact_url("postgresql://u@h/db?PASSWORD=p") == "postgresql://u@h/db?PASSWORD=***"


async def test_password_with_url_syntax_is_not_shown_in_errors(tmp_path: Path) -> None:
    url = "postgresql://radmfa:hun#ter2@127.0.0.1:notaport/radmfa"
    with pytest.raises((ConfigError, StoreError)) as caught:
        await open_store(url, key_file=Path("k"), base_dir=tmp_path)
    assert "ter2" not in str(caught.value) and "hun" not in str(caught.value)


async def test_sqlite_runs_off_the_event_loop_thread(tmp_path: Path) -> None:
    store = await open_store("sqlite:///t.db", key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    seen: list[str] = []
    try:
        # A statement's thread is visible through an SQL function we register.
        await store._call(  # noqa: SLF001
            lambda: store._db.create_function(  # noqa: SLF001
                "whoami", 0, lambda: seen.append(threading.current_thread().name) or 1
            )
        )
        await store._fetch("SELECT whoami()")  # noqa: SLF001
    finally:
        await store.close()
    assert seen and seen[0].startswith("radmfa-sqlite")
    assert seen[0] != threading.current_thread().name


async def test_sqlite_point_reads_run_on_the_event_loop_thread(tmp_path: Path) -> None:
    store = await open_store("sqlite:///t.db", key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    await store.add_user(NewUser("alice"))
    seen: list[str] = []
    try:
        assert store._reader is not None  # noqa: SLF001
        store._reader.create_function(  # noqa: SLF001
            "whoami", 0, lambda: seen.append(threading.current_thread().name) or 1
        )
        assert await store._read("SELECT whoami()") == [(1,)]  # noqa: SLF001
        user, tokens = await store.login_view("ALICE")  # a write on the thread is seen at once
        assert user is not None and user.name == "alice" and tokens == []
    finally:
        await store.close()
    assert seen == [threading.current_thread().name]


class _BusyReader:
    """A read-only connection that meets another process's lock (SQLITE_BUSY)."""

    def __init__(self) -> None:
        self.tried = 0

    def execute(self, *_args: object) -> None:
        self.tried += 1
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
        raise error

    def close(self) -> None:
        pass


async def _store_with_locked_reader(tmp_path: Path) -> tuple[SqliteStore, _BusyReader]:
    """A store holding alice whose loop-thread reader always meets a lock."""
    store = await open_store("sqlite:///t.db", key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    await store.add_user(NewUser("alice"))
    busy = _BusyReader()
    store._reader = busy  # type: ignore[assignment]  # noqa: SLF001
    return store, busy


async def test_sqlite_point_read_goes_to_the_store_thread_when_locked(tmp_path: Path) -> None:
    store, busy = await _store_with_locked_reader(tmp_path)
    try:
        user, _ = await store.login_view("alice")  # not an error: the thread waits for the lock
    finally:
        await store.close()
    assert busy.tried == 1 and user is not None and user.name == "alice"


async def test_sqlite_login_read_goes_to_the_store_thread_when_locked(tmp_path: Path) -> None:
    """The login's one read (login_exemption_view), answered on the loop's
    thread when it can, is asked of the store thread once its reader meets a lock."""
    store, busy = await _store_with_locked_reader(tmp_path)
    try:
        user, tokens, view = await store.login_exemption_view(
            "alice", scopes=("client:vpn1",), station="10.0.0.9", client="vpn1", now=datetime.now(UTC)
        )
    finally:
        await store.close()
    assert busy.tried == 1 and user is not None and user.name == "alice" and tokens == []
    assert view == ExemptionView()


async def test_sqlite_decision_writes_hand_back_the_store_threads_future(tmp_path: Path) -> None:
    """A code's step, a challenge's claim and a session's write are queued
    when called and awaited as the store thread's own future, whose result
    the thread worked out; a closed store refuses them when called."""
    store = await open_store("sqlite:///t.db", key_file=Path("k"), base_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    await store.add_user(NewUser("alice"))
    token = await store.add_token("alice", NewToken("totp", b"k" * 20))
    session = Session(b"S" * 16, "vpn1", b"alice", "totp", 0, datetime.now(UTC) + timedelta(minutes=1), (),
                      Phase.AWAITING_CODE)
    try:
        first, again = store.consume_otp_step(token.id, 7), store.consume_otp_step(token.id, 7)
        assert isinstance(first, asyncio.Future) and isinstance(again, asyncio.Future)
        assert (await first, await again) == (True, False)
        put = store.put_session(session)
        assert isinstance(put, asyncio.Future) and await put is None
        assert (await store.take_session(session.state, now=datetime.now(UTC))) == session
    finally:
        await store.close()
    with pytest.raises(StoreError, match="closed"):
        store.consume_otp_step(token.id, 8)
