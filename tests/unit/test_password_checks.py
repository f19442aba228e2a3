"""Local and app password checks: attempt budgets before any argon2 work,
the bounded pool (bounded threads and a bounded wait, refused at once when
full), and hashes made again when [passwords] changes."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher

from radmfa.config import PasswordsConfig, load
from radmfa.core import attempts
from radmfa.core.attempts import AttemptBudgets, Budget
from radmfa.core.model import NewUser
from radmfa.errors import ConfigError
from radmfa.store import open_store
from radmfa.upstream import passwords
from radmfa.upstream.hashpool import BUSY, CLIENT_BUSY, HashPool, PoolFull
from radmfa.upstream.passwords import Passwords
from tests.unit.test_config import write

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CHEAP = PasswordsConfig(time_cost=1, memory_kib=8 * 1024, app_time_cost=1, app_memory_kib=8 * 1024, threads=2)


# -- budgets (pure) -------------------------------------------------------------------


def test_a_budget_refuses_once_spent_and_opens_again_with_the_next_window() -> None:
    b = AttemptBudgets.of(user_attempts=3, client_attempts=100, window_s=60)
    for _ in range(3):
        assert b.begin("alice", "nas1", now=0.0) is None
        b.end("alice", "nas1", ok=False, now=0.0)
    assert b.begin("alice", "nas1", now=1.0) == attempts.USER_SPENT
    assert b.begin("bob", "nas1", now=1.0) is None  # another user is not touched
    assert b.begin("alice", "nas1", now=60.0) is None  # a new window


def test_checks_in_flight_count_so_a_burst_cannot_pass_the_budget() -> None:
    b = AttemptBudgets.of(user_attempts=0, client_attempts=4, window_s=60)
    started = [b.begin(f"u{i}", "flood", now=0.0) for i in range(10)]  # none has ended yet
    assert started.count(None) == 4 and started[4:] == [attempts.CLIENT_SPENT] * 6
    assert b.begin("u0", "quiet", now=0.0) is None


def test_right_passwords_give_their_units_back() -> None:
    b = AttemptBudgets.of(user_attempts=2, client_attempts=2, window_s=60)
    for _ in range(50):
        assert b.begin("alice", "nas1", now=0.0) is None
        b.end("alice", "nas1", ok=True, now=0.0)
    b.begin("alice", "nas1", now=0.0)
    b.cancel("alice", "nas1", now=0.0)  # never ran: nothing spent
    assert b.begin("alice", "nas1", now=0.0) is None


def test_made_up_names_cost_bounded_memory() -> None:
    budget = Budget(limit=5, window_s=60, max_keys=100)
    for i in range(1000):
        budget.take(f"nobody{i}", now=float(i) / 100)
    assert len(budget) == 100
    assert budget.spent("nobody999", now=10.0) is False and budget._current("nobody999", 10.0) == 1


# -- the pool -------------------------------------------------------------------------


async def test_the_pool_bounds_threads_and_waiting_and_refuses_at_once_beyond() -> None:
    pool = HashPool(threads=1, queue=2)
    gate, running = threading.Event(), []

    def slow(n: int) -> int:
        running.append(n)
        gate.wait(30)
        return n

    try:
        jobs = [asyncio.ensure_future(pool.run(slow, n)) for n in range(3)]  # one running, two waiting
        await asyncio.sleep(0)
        with pytest.raises(PoolFull, match=BUSY):
            await pool.run(slow, 99)
        assert running == [0] and pool.counts == {"hashed": 3, "refused_busy": 1}
        gate.set()
        assert await asyncio.gather(*jobs) == [0, 1, 2]
        assert await pool.run(slow, 4) == 4  # places come back when the hashes are done
    finally:
        gate.set()
        pool.close()


async def test_one_client_holds_at_most_its_share_and_another_still_finds_a_place() -> None:
    pool = HashPool(threads=1, queue=5, client_share=2)
    gate = threading.Event()
    try:
        flood = [asyncio.ensure_future(pool.run(gate.wait, 30, client="flood")) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(PoolFull, match=CLIENT_BUSY):
            await pool.run(gate.wait, 30, client="flood")
        quiet = asyncio.ensure_future(pool.run(lambda: "answered", client="quiet"))
        gate.set()
        assert await quiet == "answered"
        assert await asyncio.gather(*flood) == [True, True]
        assert pool.counts == {"hashed": 3, "refused_client_busy": 1}
    finally:
        gate.set()
        pool.close()


async def test_waiting_checks_are_served_client_by_client_in_turn() -> None:
    pool = HashPool(threads=1, queue=10)
    gate, order = threading.Event(), []

    def job(name: str) -> None:
        if name == "flood-0":
            gate.wait(30)
        order.append(name)

    try:
        jobs = [asyncio.ensure_future(pool.run(job, f"flood-{i}", client="flood")) for i in range(4)]
        await asyncio.sleep(0)
        jobs.append(asyncio.ensure_future(pool.run(job, "quiet-0", client="quiet")))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*jobs)
        # Not first come, first served: the quiet NAS waits for one flood check, not three.
        assert order == ["flood-0", "flood-1", "quiet-0", "flood-2", "flood-3"]
    finally:
        gate.set()
        pool.close()


async def test_a_place_is_free_only_when_its_hash_is_done_even_if_nobody_waits() -> None:
    pool = HashPool(threads=1, queue=0)
    gate, done = threading.Event(), threading.Event()

    def slow() -> None:
        gate.wait(30)
        done.set()

    try:
        job = asyncio.ensure_future(pool.run(slow))
        await asyncio.sleep(0)
        job.cancel()  # the request went past its deadline; the thread still hashes
        with pytest.raises(PoolFull):
            await pool.run(slow)
        gate.set()
        await asyncio.to_thread(done.wait, 30)
        for _ in range(100):  # the release runs on the worker thread right after the job
            try:
                await pool.run(lambda: None)
                break
            except PoolFull:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the place never came back")
    finally:
        gate.set()
        pool.close()


# -- checks against a real store: budgets before hashing, rehash on login -------------


@pytest.fixture
async def store(tmp_path):
    s = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    yield s
    await s.close()


@pytest.fixture
def argon2_calls(monkeypatch):
    calls: list[str] = []
    verify = passwords._verify

    def counting(hasher: PasswordHasher, password_hash: str, password: bytes | str) -> bool:
        calls.append(password_hash)
        return verify(hasher, password_hash, password)

    monkeypatch.setattr(passwords, "_verify", counting)
    return calls


async def test_a_spent_budget_refuses_without_argon2_work(store, argon2_calls) -> None:
    cfg = PasswordsConfig(**{**_fields(CHEAP), "user_attempts": 100, "client_attempts": 3})
    checker = Passwords(cfg, store)
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("alice-pw")
    try:
        results = [await checker.check_local("alice", "flood", old, b"wrong") for _ in range(10)]
        assert [r.refused for r in results] == [""] * 3 + [attempts.CLIENT_SPENT] * 7
        assert len(argon2_calls) == 3
        assert (await checker.check_local("alice", "quiet", old, b"alice-pw")).ok
        assert checker.stats() == {"wrong": 3, "refused_client_budget": 7, "right": 1, "hashed": 4}
    finally:
        checker.close()


async def test_a_right_password_with_old_parameters_is_hashed_again(store) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("alice-pw")
    await store.add_user(NewUser("alice", password_hash=old))
    checker = Passwords(PasswordsConfig(threads=1), store)  # the defaults: 2 passes over 19 MiB
    try:
        assert not (await checker.check_local("alice", "nas1", old, b"wrong")).ok
        assert (await store.get_user("alice")).password_hash == old  # a wrong password changes nothing
        assert (await checker.check_local("alice", "nas1", old, b"alice-pw")).ok
        renewed = (await store.get_user("alice")).password_hash
        assert renewed != old and "m=19456,t=2,p=1" in renewed
        assert PasswordHasher().verify(renewed, "alice-pw")
        assert (await checker.check_local("alice", "nas1", renewed, b"alice-pw")).ok  # current: kept
        assert (await store.get_user("alice")).password_hash == renewed
        assert checker.counts["rehashed"] == 1
    finally:
        checker.close()


async def test_an_app_password_with_old_parameters_is_hashed_again(store) -> None:
    await store.add_user(NewUser("alice"))
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("ABCD-secret")
    row = await store.add_app_password("alice", name="Laptop", lookup="ABCD", password_hash=old, limit=40, now=NOW)
    checker = Passwords(PasswordsConfig(threads=1, app_time_cost=3), store)
    try:
        assert (await checker.verify_app_password(row, "ABCD-secret", client="nas1")).ok
        renewed = (await store.list_app_passwords("alice"))[0].password_hash
        assert "t=3" in renewed and PasswordHasher().verify(renewed, "ABCD-secret")
        # A row checked before the rehash landed is not written over.
        assert (await checker.verify_app_password(row, "ABCD-secret", client="nas1")).ok
        assert (await store.list_app_passwords("alice"))[0].password_hash == renewed
        assert checker.counts["rehashed"] == 1
    finally:
        checker.close()


async def test_app_password_checks_and_decoys_spend_the_same_budgets(store, argon2_calls) -> None:
    await store.add_user(NewUser("alice"))
    h = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("ABCD-secret")
    row = await store.add_app_password("alice", name="Laptop", lookup="ABCD", password_hash=h, limit=40, now=NOW)
    cfg = PasswordsConfig(**{**_fields(CHEAP), "user_attempts": 2, "client_attempts": 0})
    checker = Passwords(cfg, store)
    try:
        assert not (await checker.verify_decoy("ZZZZ-guess", user="ALICE", client="nas1")).ok
        assert not (await checker.verify_app_password(row, "ABCD-guess", client="nas2")).ok
        refused = await checker.verify_app_password(row, "ABCD-secret", client="nas3")
        assert (refused.ok, refused.refused) == (False, attempts.USER_SPENT)
        assert len(argon2_calls) == 2  # the decoy check and the wrong guess; the right one was never hashed
    finally:
        checker.close()


def _fields(cfg: PasswordsConfig) -> dict[str, object]:
    return {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}


def test_new_hashes_take_the_configured_parameters() -> None:
    assert "m=19456,t=2,p=1" in passwords.hash_password("alice-pw")
    assert "m=8192,t=1,p=1" in passwords.hash_password("alice-pw", CHEAP)


async def test_new_app_password_hashes_take_the_configured_parameters() -> None:
    assert "m=8192,t=1,p=1" in await passwords.hash_app_password("ABCD-secret", CHEAP)


# -- [passwords] ----------------------------------------------------------------------


def test_passwords_keys_are_read_and_default_to_the_documented_values(tmp_path) -> None:
    assert load(write(tmp_path, "")).passwords == PasswordsConfig()
    cfg = load(write(tmp_path, "[passwords]\ntime_cost = 3\nmemory_kib = 65536\nthreads = 4\nclient_share = 0\n"))
    assert (cfg.passwords.time_cost, cfg.passwords.memory_kib, cfg.passwords.threads) == (3, 65536, 4)
    assert cfg.passwords.client_share == 0 and cfg.passwords.user_attempts == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[passwords]\nmemory_kib = 1024", "[passwords] memory_kib: must be between 8192"),
        ("[passwords]\ntime_cost = 0", "[passwords] time_cost: must be between 1 and 20"),
        ('[passwords]\nqueue = "lots"', "[passwords] queue: expected int"),
        ("[passwords]\nthreds = 2", "[passwords] threds: unknown setting"),
    ],
)
def test_passwords_errors_name_file_and_key(tmp_path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert message in str(e.value) and "radmfa.toml" in str(e.value)
