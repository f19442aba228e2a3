"""Passwords radmfa checks itself, as argon2id hashes: local passwords (the
``local`` upstream) and app passwords.

One :class:`Passwords` per process holds the two hashers (``[passwords]``),
the bounded pool argon2 runs in (``upstream/hashpool.py``) and the attempt
budgets (``core/attempts.py``). A check goes: budgets (refused without any
argon2 work when one is spent), then the pool (refused at once when full),
then argon2 in a pool thread. A right password whose hash was made with
other parameters is hashed again in the same thread and written back only
if the stored hash is still the one checked. The parameters live in each
hash, so changing them keeps every old hash valid.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import structlog
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from radmfa.config import PasswordsConfig
from radmfa.core import attempts, policy
from radmfa.core.attempts import AttemptBudgets
from radmfa.core.model import AppPassword, PasswordCheck
from radmfa.core.ports import PasswordRehashStore
from radmfa.upstream.hashpool import HashPool, PoolFull

log = structlog.get_logger("radmfa.passwords")

_DEFAULTS = PasswordsConfig()


def local_hasher(cfg: PasswordsConfig) -> PasswordHasher:
    return PasswordHasher(
        time_cost=cfg.time_cost, memory_cost=cfg.memory_kib, parallelism=cfg.parallelism, type=Type.ID
    )


def app_hasher(cfg: PasswordsConfig) -> PasswordHasher:
    return PasswordHasher(
        time_cost=cfg.app_time_cost, memory_cost=cfg.app_memory_kib, parallelism=cfg.app_parallelism, type=Type.ID
    )


_local = local_hasher(_DEFAULTS)
_app = app_hasher(_DEFAULTS)


def _verify(hasher: PasswordHasher, password_hash: str, password: bytes | str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_and_renew(hasher: PasswordHasher, password_hash: str, password: bytes | str) -> tuple[bool, str | None]:
    """In a pool thread: the verdict, and a new hash when the password is right
    but its hash was made with other parameters."""
    if not _verify(hasher, password_hash, password):
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(password_hash) else None


# -- hashing new passwords (the CLI, the portal): [passwords]' parameters -----------


def hash_password(password: str, cfg: PasswordsConfig = _DEFAULTS) -> str:
    """A local password's hash (blocking: the CLI calls it in a thread)."""
    return (_local if cfg == _DEFAULTS else local_hasher(cfg)).hash(password)


async def hash_app_password(canonical: str, cfg: PasswordsConfig = _DEFAULTS) -> str:
    return await asyncio.to_thread((_app if cfg == _DEFAULTS else app_hasher(cfg)).hash, canonical)


async def verify_app_password(password_hash: str, canonical: str) -> bool:
    """One app password against its hash, outside the pool (the CLI, benchmarks)."""
    return await asyncio.to_thread(_verify, _app, password_hash, canonical)


# -- checks on the request path -----------------------------------------------------


class Passwords:
    """The per-process password checker: the ``AppPasswordCheck`` port, and
    what the local upstream calls."""

    def __init__(
        self,
        cfg: PasswordsConfig,
        store: PasswordRehashStore,
        *,
        workers: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``workers``: the processes that share this machine's cores
        (``[radius] workers``); ``threads = 0`` gives each its part of them."""
        self.cfg, self.store, self.clock = cfg, store, clock
        self.local, self.app = local_hasher(cfg), app_hasher(cfg)
        threads = cfg.threads or max(1, (os.cpu_count() or 1) // max(1, workers))
        self.pool = HashPool(threads, cfg.queue, cfg.client_share)
        self.budgets = AttemptBudgets.of(
            user_attempts=cfg.user_attempts, client_attempts=cfg.client_attempts, window_s=cfg.window_s
        )
        self.counts: Counter[str] = Counter()
        self._stand_ins: dict[int, str] = {}  # id(hasher) → a hash of a random password

    def stats(self) -> dict[str, int]:
        """What the checks came to since start: right, wrong, refused (by
        which budget, or a full pool), hashes made again; ``hashed`` counts
        argon2 verifications run."""
        return {**self.counts, **self.pool.counts}

    def close(self) -> None:
        self.pool.close()

    async def _stand_in(self, hasher: PasswordHasher, client: str) -> str:
        """What a password is checked against when there is no hash: the same
        argon2 work, so the reply's timing does not tell who is in the store."""
        made = self._stand_ins.get(id(hasher))
        if made is None:
            made = await self.pool.run(hasher.hash, secrets.token_urlsafe(32), client=client)
            self._stand_ins[id(hasher)] = made
        return made

    async def _check(
        self, hasher: PasswordHasher, user: str, client: str, password_hash: str | None, password: bytes | str
    ) -> tuple[PasswordCheck, str | None]:
        key = policy.name_key(user) if user else ""
        refused = self.budgets.begin(key, client, now=self.clock())
        if refused is not None:
            self.counts["refused_client_budget" if refused == attempts.CLIENT_SPENT else "refused_user_budget"] += 1
            return PasswordCheck(False, refused=refused), None
        ok, renewed = False, None
        try:
            against = password_hash or await self._stand_in(hasher, client)
            ok, renewed = await self.pool.run(_verify_and_renew, hasher, against, password, client=client)
            ok = ok and bool(password_hash)
        except PoolFull as e:
            self.budgets.cancel(key, client, now=self.clock())
            return PasswordCheck(False, refused=str(e)), None
        finally:
            self.budgets.end(key, client, ok=ok, now=self.clock())
        self.counts["right" if ok else "wrong"] += 1
        return PasswordCheck(ok), renewed if ok else None

    async def check_local(self, name: str, client: str, password_hash: str | None, password: bytes) -> PasswordCheck:
        """A local password; with no hash, the same work and not ok."""
        check, renewed = await self._check(self.local, name, client, password_hash, password)
        if renewed is not None and password_hash:
            await self._write(self.store.rehash_password(name, password_hash, renewed), user=name)
        return check

    async def verify_app_password(self, found: AppPassword, canonical: str, *, client: str) -> PasswordCheck:
        check, renewed = await self._check(self.app, found.username, client, found.password_hash, canonical)
        if renewed is not None:
            await self._write(self.store.rehash_app_password(found.id, found.password_hash, renewed),
                              user=found.username)
        return check

    async def verify_decoy(self, canonical: str, *, user: str, client: str) -> PasswordCheck:
        check, _ = await self._check(self.app, user, client, None, canonical)
        return check

    async def _write(self, write: Awaitable[bool], *, user: str) -> None:
        """Store a hash made again; the login stands whatever the store says."""
        try:
            written = await write
        except Exception as e:  # noqa: BLE001 - the old hash still works; say why and go on
            log.warning("password rehash not stored", user=user, error=str(e))
            return
        if written:
            self.counts["rehashed"] += 1
