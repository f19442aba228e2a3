"""The Store contract for wrong-code counters (OTP guessing across workers).

note_code_failure counts in one atomic UPDATE; consume_otp_step clears the
count in the very UPDATE that accepts a code. The counters travel on Token,
so the login path reads them with the tokens and needs no extra query.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser, Token
from tests.store.conftest import Backend

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def _tokens(store: Store, count: int) -> list[int]:
    await store.add_user(NewUser("alice"))
    return [(await store.add_token("alice", NewToken("totp", bytes([n]) * 20))).id for n in range(count)]


async def _view(store: Store) -> dict[int, Token]:
    _, tokens = await store.login_view("alice")
    assert {t.id: t for t in tokens} == {t.id: t for t in await store.list_tokens("alice")}
    return {t.id: t for t in tokens}


async def test_a_new_token_has_no_failures(store: Store) -> None:
    [token_id] = await _tokens(store, 1)
    token = (await _view(store))[token_id]
    assert (token.fail_count, token.failed_at) == (0, None)


async def test_failures_count_on_the_named_tokens_only(store: Store) -> None:
    a, b, c = await _tokens(store, 3)
    await store.note_code_failure([a, b], now=NOW)
    await store.note_code_failure([a], now=NOW + timedelta(seconds=5))
    await store.note_code_failure([], now=NOW + timedelta(seconds=9))  # nothing to count
    view = await _view(store)
    assert (view[a].fail_count, view[a].failed_at) == (2, NOW + timedelta(seconds=5))
    assert (view[b].fail_count, view[b].failed_at) == (1, NOW)
    assert (view[c].fail_count, view[c].failed_at) == (0, None)
    assert view[a].failed_at.tzinfo is UTC


async def test_unknown_token_ids_are_ignored(store: Store) -> None:
    [a] = await _tokens(store, 1)
    await store.note_code_failure([a + 1000], now=NOW)
    assert (await _view(store))[a].fail_count == 0


async def test_concurrent_failures_are_all_counted(backend: Backend, store: Store) -> None:
    [token_id] = await _tokens(store, 1)
    other = await backend.open()  # a second worker process, in effect
    await asyncio.gather(
        *(s.note_code_failure([token_id], now=NOW) for _ in range(10) for s in (store, other))
    )
    assert (await _view(store))[token_id].fail_count == 20
    assert (await _view(other))[token_id].fail_count == 20


async def test_an_accepted_code_clears_the_count(store: Store) -> None:
    a, b = await _tokens(store, 2)
    for _ in range(3):
        await store.note_code_failure([a, b], now=NOW)
    assert await store.consume_otp_step(a, 100) is True
    view = await _view(store)
    assert view[a].fail_count == 0 and view[a].last_step == 100
    assert view[a].failed_at == NOW  # when the last wrong code came, still
    assert view[b].fail_count == 3  # another token's count is its own


async def test_a_refused_step_does_not_clear_the_count(store: Store) -> None:
    [a] = await _tokens(store, 1)
    assert await store.consume_otp_step(a, 100) is True
    await store.note_code_failure([a], now=NOW)
    assert await store.consume_otp_step(a, 100) is False  # replayed code
    assert (await _view(store))[a].fail_count == 1
