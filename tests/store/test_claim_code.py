"""The Store contract for claim_code: a challenge answered with a correct
code, in one transaction, by the process that stored the session.

The single-use rules hold as for take_session and consume_otp_step: a State
is taken once whoever races for it (another process, another node), a step
is consumed once, an expired session is never taken, and nothing changes
when the session is not there. Each case runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import Claimed, CodeClaim, MfaSuccess, NewToken, NewUser, Phase, Session, UserState
from tests.store.conftest import Backend

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
STATE = b"S" * 16
STEP = 66_000_000


async def _alice(store: Store) -> tuple[int, int]:
    user = await store.add_user(NewUser("alice", state=UserState.ENFORCED))
    token = await store.add_token("alice", NewToken("totp", b"\x01" * 20))
    await _put(store)
    return user.id, token.id


async def _put(store: Store) -> None:
    await store.put_session(Session(
        state=STATE, client="vpn", username=b"alice", factor="totp", attempts=0,
        expires_at=NOW + timedelta(seconds=60), reply_attrs=((25, b"class"),), phase=Phase.AWAITING_CODE,
    ))


def _claim(user_id: int, token_id: int, *, step: int = STEP, now: datetime = NOW,
           user_state: UserState = UserState.ENFORCED, scopes: tuple[str, ...] = ("user",)) -> CodeClaim:
    success = MfaSuccess(user_id, scopes, "", "vpn", now)
    return CodeClaim(STATE, user_id, user_state, token_id, step, 3, now - timedelta(minutes=5), success)


# The single-use cases hold for a claim that also records cache scopes and
# for one with none and no station (the [mfa] cache off, no remembered
# devices), which PostgreSQL runs as a statement of its own.
SHAPES = pytest.mark.parametrize("scopes", [("user",), ()], ids=["cached", "bare"])


async def _last_step(backend: Backend, token_id: int) -> int | None:
    [(step,)] = await backend.raw("SELECT last_step FROM tokens WHERE id = ?", token_id)
    return None if step is None else int(step)


async def _sessions(backend: Backend) -> int:
    [(count,)] = await backend.raw("SELECT COUNT(*) FROM sessions WHERE state = ?", STATE)
    return int(count)


async def test_a_claim_takes_the_session_and_the_step_and_records_the_success(
    backend: Backend, store: Store
) -> None:
    user_id, token_id = await _alice(store)
    await store.note_mfa_failure(user_id, now=NOW)
    assert await store.claim_code(_claim(user_id, token_id)) is Claimed.ACCEPTED
    assert await _sessions(backend) == 0
    assert await _last_step(backend, token_id) == STEP
    assert await backend.raw("SELECT scope FROM mfa_cache WHERE user_id = ?", user_id) == [("user",)]
    assert await backend.raw("SELECT * FROM mfa_failures WHERE user_id = ?", user_id) == []
    # Single use: the same answer again is not known here any more, and the
    # long way finds neither the session nor a step to take.
    assert await store.claim_code(_claim(user_id, token_id)) is Claimed.UNKNOWN
    assert await store.take_session(STATE, now=NOW) is None
    assert not await store.consume_otp_step(token_id, STEP)


async def test_a_claim_with_no_cache_scope_or_station_takes_the_step_and_clears_the_count(
    backend: Backend, store: Store
) -> None:
    # The usual login: [mfa] cache off, no remembered devices.
    user_id, token_id = await _alice(store)
    await store.note_mfa_failure(user_id, now=NOW)
    claim = _claim(user_id, token_id)
    bare = CodeClaim(claim.state, user_id, claim.user_state, token_id, STEP, claim.max_failures,
                     claim.failures_since, MfaSuccess(user_id, (), "", "vpn", NOW))
    assert await store.claim_code(bare) is Claimed.ACCEPTED
    assert await _sessions(backend) == 0
    assert await _last_step(backend, token_id) == STEP
    assert await backend.raw("SELECT * FROM mfa_cache WHERE user_id = ?", user_id) == []
    assert await backend.raw("SELECT * FROM remembered_devices WHERE user_id = ?", user_id) == []
    assert await backend.raw("SELECT * FROM mfa_failures WHERE user_id = ?", user_id) == []


async def test_a_session_another_process_stored_is_unknown_and_left_alone(backend: Backend, store: Store) -> None:
    user_id, token_id = await _alice(store)
    other = await backend.open()
    assert await other.claim_code(_claim(user_id, token_id)) is Claimed.UNKNOWN
    assert await _sessions(backend) == 1
    assert await _last_step(backend, token_id) is None


@SHAPES
async def test_a_session_another_process_took_first_is_gone_and_the_step_stays(
    backend: Backend, store: Store, scopes: tuple[str, ...]
) -> None:
    user_id, token_id = await _alice(store)
    other = await backend.open()
    assert await other.take_session(STATE, now=NOW) is not None
    assert await store.claim_code(_claim(user_id, token_id, scopes=scopes)) is Claimed.GONE
    assert await _last_step(backend, token_id) is None
    assert await backend.raw("SELECT * FROM mfa_cache") == []


@SHAPES
async def test_one_winner_when_another_process_races_for_the_state(
    backend: Backend, store: Store, scopes: tuple[str, ...]
) -> None:
    user_id, token_id = await _alice(store)
    other = await backend.open()
    for n in range(10):
        if n:
            await _put(store)
        claimed, taken = await asyncio.gather(
            store.claim_code(_claim(user_id, token_id, step=STEP + n, scopes=scopes)),
            other.take_session(STATE, now=NOW),
        )
        assert claimed in (Claimed.ACCEPTED, Claimed.GONE)
        assert (claimed is Claimed.ACCEPTED) != (taken is not None), (n, claimed, taken)
        assert await _sessions(backend) == 0


@SHAPES
async def test_a_step_used_meanwhile_takes_the_session_only(
    backend: Backend, store: Store, scopes: tuple[str, ...]
) -> None:
    user_id, token_id = await _alice(store)
    assert await (await backend.open()).consume_otp_step(token_id, STEP)  # the same code, elsewhere
    assert await store.claim_code(_claim(user_id, token_id, scopes=scopes)) is Claimed.TAKEN
    assert await _sessions(backend) == 0  # used up, as by take_session_view before a replayed code
    assert await _last_step(backend, token_id) == STEP
    assert await backend.raw("SELECT * FROM mfa_cache") == []


@SHAPES
async def test_an_expired_session_is_not_taken(backend: Backend, store: Store, scopes: tuple[str, ...]) -> None:
    user_id, token_id = await _alice(store)
    late = NOW + timedelta(seconds=60)
    assert await store.claim_code(_claim(user_id, token_id, now=late, scopes=scopes)) is Claimed.GONE
    assert await _last_step(backend, token_id) is None
    assert await store.take_session(STATE, now=late) is None  # the long way: expired, as before


@SHAPES
async def test_a_token_locked_meanwhile_keeps_its_step(backend: Backend, store: Store, scopes: tuple[str, ...]) -> None:
    user_id, token_id = await _alice(store)
    for _ in range(3):  # max failures, counted by other workers since the challenge was asked
        await store.note_code_failure([token_id], now=NOW - timedelta(minutes=1))
    assert await store.claim_code(_claim(user_id, token_id, scopes=scopes)) is Claimed.TAKEN
    assert await _last_step(backend, token_id) is None
    [(fails,)] = await backend.raw("SELECT fail_count FROM tokens WHERE id = ?", token_id)
    assert fails == 3


@SHAPES
async def test_an_old_lock_does_not_hold_the_claim(backend: Backend, store: Store, scopes: tuple[str, ...]) -> None:
    user_id, token_id = await _alice(store)
    for _ in range(3):
        await store.note_code_failure([token_id], now=NOW - timedelta(minutes=6))
    assert await store.claim_code(_claim(user_id, token_id, scopes=scopes)) is Claimed.ACCEPTED
    [(fails,)] = await backend.raw("SELECT fail_count FROM tokens WHERE id = ?", token_id)
    assert fails == 0


@SHAPES
async def test_a_user_blocked_meanwhile_keeps_the_step(backend: Backend, store: Store, scopes: tuple[str, ...]) -> None:
    user_id, token_id = await _alice(store)
    assert await store.block_user("alice", until=NOW + timedelta(minutes=5), reason="lockout")
    assert await store.claim_code(_claim(user_id, token_id, scopes=scopes)) is Claimed.TAKEN
    assert await _last_step(backend, token_id) is None
    assert await backend.raw("SELECT * FROM mfa_cache") == []


@SHAPES
async def test_a_deleted_token_is_not_claimed(backend: Backend, store: Store, scopes: tuple[str, ...]) -> None:
    user_id, token_id = await _alice(store)
    assert await store.delete_token(token_id)
    assert await store.claim_code(_claim(user_id, token_id, scopes=scopes)) is Claimed.TAKEN
    assert await backend.raw("SELECT * FROM mfa_cache") == []


async def test_a_gone_session_is_still_opened_from_memory(backend: Backend, store: Store) -> None:
    user_id, token_id = await _alice(store)
    late = NOW + timedelta(seconds=90)
    assert await store.claim_code(_claim(user_id, token_id, now=late)) is Claimed.GONE
    await backend.raw("UPDATE sessions SET expires_at = ? WHERE state = ?", late.timestamp() + 60, STATE)
    found = await store.take_session(STATE, now=late)
    assert found is not None and found.reply_attrs == ((25, b"class"),)
