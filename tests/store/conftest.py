"""Fixtures for the Store contract suite: one ``store`` per backend.

``backend`` says where a store lives (URL, key file, config directory) and
can open more instances on the same database, as several worker processes
would. ``raw`` reads and writes the database behind the store's back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from radmfa.core.admin_ports import Store
from radmfa.store import open_store


@dataclass
class Backend:
    name: str
    url: str
    base_dir: Path
    key_file: Path
    opened: list[Store] = field(default_factory=list)

    async def open(self, *, key_file: Path | None = None) -> Store:
        store = await open_store(
            self.url, key_file=key_file or self.key_file, base_dir=self.base_dir
        )
        self.opened.append(store)
        return store

    async def raw(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``?`` parameters) directly on the database."""
        if self.name == "sqlite":
            db = sqlite3.connect(self.base_dir / "radmfa.db")
            try:
                with db:  # commits
                    return db.execute(sql, args).fetchall()
            finally:
                db.close()
        for n in range(1, sql.count("?") + 1):
            sql = sql.replace("?", f"${n}", 1)
        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "sqlite:///radmfa.db"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
async def backend(backend_url: str, tmp_path: Path) -> AsyncIterator[Backend]:
    name = "sqlite" if backend_url.startswith("sqlite") else "postgres"
    where = Backend(name, backend_url, tmp_path, tmp_path / "seed.key")
    yield where
    for store in where.opened:
        await store.close()


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()
