"""Run one command's store work: open the configured store, await, always close.

Each command makes exactly one ``asyncio.run`` call through ``run_with_store``,
so the store is opened once, migrated once and closed even on errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from radmfa.config import Config
from radmfa.core.admin_ports import Store
from radmfa.store import open_store

T = TypeVar("T")


def run_with_store(cfg: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    return asyncio.run(_with_store(cfg, work))


async def _with_store(cfg: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
    try:
        return await work(store)
    finally:
        await store.close()
