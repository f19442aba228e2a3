"""A challenge answered where it was asked: the session, the code's step and
the MFA success in one store trip (CodeStore.claim_code), and the long way
(take_session_view, then the code) when another process asked it or the
claim finds the store changed. Two pipelines on two store instances over
one database stand for two worker processes (or two nodes on PostgreSQL).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from radmfa.config import MfaConfig
from radmfa.core.admin_ports import Store
from radmfa.core.model import AuthRequest, Decision, NewToken, NewUser, Verdict
from radmfa.core.pipeline import Pipeline
from radmfa.radius import wire
from radmfa.store import open_store
from tests.fakes.ports import FakeUpstream, make_pipeline

NOW = datetime(2026, 11, 22, 8, 55, 0, tzinfo=UTC)
SEED = bytes(range(20))
COUNTED = ("claim_code", "take_session_view", "consume_otp_step", "login_view", "note_code_failure")


def code_at(when: datetime) -> bytes:
    return pyotp.TOTP(base64.b32encode(SEED).decode()).at(when).encode()


def req(password: bytes, state: bytes | None = None, user: bytes = b"alice") -> AuthRequest:
    return AuthRequest("r1", "nas1", "10.0.0.1", user, password, state, "", bytes(16), ())


def hotp_at(counter: int) -> bytes:
    return pyotp.HOTP(base64.b32encode(SEED).decode()).at(counter).encode()


def state_of(decision: Decision) -> bytes:
    return dict(decision.attrs)[wire.STATE]


class Node:
    """One process: its own store instance and pipeline; counts its store calls."""

    def __init__(self, store: Store, upstream: FakeUpstream, **mfa: Any) -> None:
        self.store, self.calls = store, Counter[str]()
        for name in COUNTED:
            self._count(name)
        self.pipeline: Pipeline = make_pipeline(MfaConfig(**mfa), upstream, store)

    def _count(self, name: str) -> None:
        method = getattr(self.store, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await method(*args, **kwargs)

        setattr(self.store, name, counted)

    async def ask(self, user: bytes = b"alice") -> bytes:
        d = await self.pipeline.handle(req(b"pw", user=user), now=NOW)
        assert d.verdict is Verdict.CHALLENGE
        return state_of(d)

    async def answer(
        self, state: bytes, code: bytes, *, at: datetime = NOW + timedelta(seconds=5), user: bytes = b"alice"
    ) -> Decision:
        self.calls.clear()
        return await self.pipeline.handle(req(code, state, user), now=at)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[Node]]:
    url = "sqlite:///p.db" if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_url")
    stores: list[Store] = [await open_store(url, key_file=tmp_path / "k", base_dir=tmp_path) for _ in range(2)]
    await stores[0].add_user(NewUser("alice"))
    await stores[0].add_token("alice", NewToken("totp", SEED))
    await stores[0].add_user(NewUser("bob"))
    await stores[0].add_token("bob", NewToken("hotp", SEED))
    upstream = FakeUpstream(passwords={b"alice": b"pw", b"bob": b"pw"})
    yield [Node(store, upstream, max_attempts=3, lockout_failures=5) for store in stores]
    for store in stores:
        await store.close()


async def _last_step(store: Store) -> int | None:
    _, [token] = await store.login_view("alice")
    return token.last_step


async def test_the_process_that_asked_accepts_in_one_trip(nodes: list[Node]) -> None:
    here, _ = nodes
    state = await here.ask()
    ok = await here.answer(state, code_at(NOW))
    assert ok.verdict is Verdict.ACCEPT and ok.reason == "password and code" and ok.factor == "totp"
    assert (25, b"cls") in ok.attrs and ok.user is not None and ok.user.name == "alice"
    assert here.calls == Counter(claim_code=1)
    assert await _last_step(here.store) is not None


async def test_the_state_is_single_use_after_a_claim(nodes: list[Node]) -> None:
    here, there = nodes
    state = await here.ask()
    assert (await here.answer(state, code_at(NOW))).verdict is Verdict.ACCEPT
    for node in (here, there):  # a replay to this process, or to another one
        again = await node.answer(state, code_at(NOW))
        assert again.verdict is Verdict.REJECT and again.reason == "unknown or expired State"


async def test_another_process_answers_the_long_way_and_then_the_asker_cannot(nodes: list[Node]) -> None:
    here, there = nodes
    state = await here.ask()
    ok = await there.answer(state, code_at(NOW))
    assert ok.verdict is Verdict.ACCEPT
    assert there.calls == Counter(take_session_view=1, consume_otp_step=1)
    late = await here.answer(state, code_at(NOW))  # the asker still holds it: the store says it is gone
    assert late.verdict is Verdict.REJECT and late.reason == "unknown or expired State"
    assert here.calls["claim_code"] == 1


async def test_the_same_code_for_another_challenge_is_a_replay(nodes: list[Node]) -> None:
    here, _ = nodes
    first, second = await here.ask(), await here.ask()
    assert (await here.answer(first, code_at(NOW))).verdict is Verdict.ACCEPT
    replayed = await here.answer(second, code_at(NOW))
    # The claim found the step used: the session is taken, and the answer
    # is decided as before, on the user and tokens as they are now.
    assert replayed.verdict is Verdict.CHALLENGE and replayed.reason == "code already used"
    assert here.calls == Counter(claim_code=1, login_view=1, consume_otp_step=1, note_code_failure=1)
    gone = await here.answer(second, code_at(NOW + timedelta(seconds=30)))
    assert gone.reason == "unknown or expired State"


async def test_a_wrong_code_counts_as_before_and_asks_again(nodes: list[Node]) -> None:
    here, _ = nodes
    state = await here.ask()
    wrong = await here.answer(state, b"000000")
    assert wrong.verdict is Verdict.CHALLENGE and wrong.reason == "wrong code"
    assert here.calls == Counter(take_session_view=1, note_code_failure=1)
    _, [token] = await here.store.login_view("alice")
    assert token.fail_count == 1
    assert (await here.answer(state, code_at(NOW))).reason == "unknown or expired State"
    ok = await here.answer(state_of(wrong), code_at(NOW))  # the retry's new State, the long way
    assert ok.verdict is Verdict.ACCEPT


async def test_an_expired_challenge_is_refused(nodes: list[Node]) -> None:
    here, _ = nodes
    state = await here.ask()
    late = NOW + timedelta(seconds=MfaConfig().challenge_ttl_s + 1)
    r = await here.answer(state, code_at(late), at=late)
    assert r.verdict is Verdict.REJECT and r.reason == "unknown or expired State"
    assert await _last_step(here.store) is None


async def test_a_user_blocked_after_the_challenge_is_refused(nodes: list[Node]) -> None:
    here, there = nodes
    state = await here.ask()
    await there.store.block_user("alice", until=None, reason="admin")
    r = await here.answer(state, code_at(NOW))
    assert r.verdict is Verdict.REJECT and r.reason == "blocked"
    assert await _last_step(here.store) is None


async def test_an_hotp_counter_used_meanwhile_is_checked_again_on_the_token_as_it_is(nodes: list[Node]) -> None:
    here, _ = nodes
    first, second, third = [await here.ask(b"bob") for _ in range(3)]
    assert (await here.answer(first, hotp_at(0), user=b"bob")).verdict is Verdict.ACCEPT
    assert here.calls == Counter(claim_code=1)
    # Held with the counter as it was: the claim fails, the long way sees 0 used.
    replayed = await here.answer(second, hotp_at(0), user=b"bob")
    assert replayed.verdict is Verdict.CHALLENGE and replayed.reason == "wrong code"
    assert here.calls["claim_code"] == 1 and here.calls["login_view"] == 1
    ahead = await here.answer(third, hotp_at(2), user=b"bob")  # within the look-ahead either way
    assert ahead.verdict is Verdict.ACCEPT and ahead.factor == "hotp"
    assert here.calls == Counter(claim_code=1)


async def test_the_name_kept_with_a_challenge_is_only_used_for_the_same_octets(nodes: list[Node]) -> None:
    here, _ = nodes
    state = await here.ask()
    # Another User-Name with the held State: decoded as any other, not the kept name.
    bad = await here.answer(state, code_at(NOW), user=b"alice\x00")
    assert bad.verdict is Verdict.REJECT and bad.reason == "bad user name"
    other = await here.answer(state, code_at(NOW), user=b"ALICE")
    assert other.verdict is Verdict.REJECT and other.reason == "State bound to another client or user"
    assert here.calls == Counter(take_session_view=1)


async def test_a_held_challenge_answered_with_a_bad_name_is_still_open_to_the_right_one(nodes: list[Node]) -> None:
    here, _ = nodes
    state = await here.ask()
    assert (await here.answer(state, code_at(NOW), user=b"alice\x00")).reason == "bad user name"
    ok = await here.answer(state, code_at(NOW))  # no longer held here: the long way
    assert ok.verdict is Verdict.ACCEPT and ok.user is not None and ok.user.name == "alice"
    assert here.calls == Counter(take_session_view=1, consume_otp_step=1)
