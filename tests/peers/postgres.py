"""A real PostgreSQL for tests: one throwaway database per test session.

Use the ``postgres_url`` fixture (session scope) for the database and
``fresh_postgres_url`` for an empty schema per test. Both are synchronous on
purpose: they drive asyncpg on a private event loop so they can be set up
before, and independently of, pytest-asyncio's loops.

The server is ``RADMFA_TEST_POSTGRES_URL`` (default: local trust auth as the
postgres user). When it is unreachable the tests are skipped, unless
``RADMFA_REQUIRE_INTEGRATION=1`` says they must run (CI), then they fail
(see ``missing_peer``). If it is down on a dev machine:
``pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from radmfa.store import redact_url
from tests.peers.fixtures import missing_peer

ADMIN_URL = os.environ.get(
    "RADMFA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a private loop in a thread of its own: the caller's
    thread may have a loop running (Playwright's sync API keeps one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _reset_schema(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database created for this test session and dropped after it."""
    name = "radmfa_test_" + secrets.token_hex(6)
    try:
        run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        missing_peer(f"PostgreSQL at {redact_url(ADMIN_URL)} is not usable: {exc}")
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        # FORCE (PostgreSQL 13+): a pool a failed test left open must not keep it alive.
        run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """The session database with an empty public schema, for one test."""
    run(_reset_schema(postgres_url))
    return postgres_url


@pytest.fixture(scope="module")
def private_postgres_server() -> Iterator[Any]:
    """A private PostgreSQL server (tests/peers/pgserver.py), one per test module."""
    from tests.peers.pgserver import PostgresServer, PostgresServerError, find_bindir

    bindir = find_bindir()
    if bindir is None:
        missing_peer("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    try:
        server = PostgresServer(bindir)
    except PostgresServerError as exc:
        missing_peer(str(exc))
    try:
        server.init().start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def private_postgres(private_postgres_server: Any) -> Any:
    """The module's private server, running: a test may stop and restart it.

    For faults: never restart the shared server that ``postgres_url`` uses.
    """
    if not private_postgres_server.running:  # an earlier test failed while it was down
        private_postgres_server.start()
    return private_postgres_server
