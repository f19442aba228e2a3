"""The pipeline under a fake upstream and a fake clock, each scenario on the
in-memory login store (tests/fakes/ports.py) and on the real SQLite store."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from radmfa.config import MfaConfig
from radmfa.core.model import AuthRequest, NewToken, NewUser, Verdict
from radmfa.core.pipeline import Pipeline
from radmfa.radius import wire
from radmfa.store import open_store
from tests.fakes.ports import FakeLoginStore, FakeUpstream, make_pipeline

NOW = datetime(2026, 11, 22, 8, 55, 0, tzinfo=UTC)
SEED = bytes(range(20))


def code_at(when: datetime, seed: bytes = SEED) -> bytes:
    return pyotp.TOTP(base64.b32encode(seed).decode()).at(when).encode()


def req(user: bytes, password: bytes | None, state: bytes | None = None, client: str = "nas1") -> AuthRequest:
    return AuthRequest("r1", client, "10.0.0.1", user, password, state, "", bytes(16), ())


@pytest.fixture(params=["memory", "sqlite"])
async def env(request, tmp_path):
    if request.param == "memory":
        store = FakeLoginStore()
    else:
        store = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("alice"))
    await store.add_token("alice", NewToken("totp", SEED))
    await store.add_user(NewUser("nofactor"))
    upstream = FakeUpstream(passwords={b"alice": b"pw", b"nofactor": b"pw", b"stranger": b"pw"})

    def make(**mfa: object) -> Pipeline:
        return make_pipeline(MfaConfig(**mfa), upstream, store)  # type: ignore[arg-type]

    yield make, upstream, store
    if request.param == "sqlite":
        await store.close()


def state_of(decision) -> bytes:
    return dict(decision.attrs)[wire.STATE]


async def test_challenge_then_code(env):
    make, _, _ = env
    p = make()
    d = await p.handle(req(b"alice", b"pw"), now=NOW)
    assert d.verdict is Verdict.CHALLENGE and len(state_of(d)) >= 16
    assert len(dict(d.attrs)[wire.REPLY_MESSAGE]) <= 253
    ok = await p.handle(req(b"alice", code_at(NOW), state_of(d)), now=NOW + timedelta(seconds=5))
    assert ok.verdict is Verdict.ACCEPT
    assert (11, b"vpn") in ok.attrs and (25, b"cls") in ok.attrs
    assert all(t != wire.STATE for t, _ in ok.attrs)  # upstream State never passed on


async def test_state_bound_to_client_and_user_and_single_use(env):
    make, _, _ = env
    p = make()
    d = await p.handle(req(b"alice", b"pw"), now=NOW)
    other_client = await p.handle(req(b"alice", code_at(NOW), state_of(d), client="nas2"), now=NOW)
    assert other_client.verdict is Verdict.REJECT
    d = await p.handle(req(b"alice", b"pw"), now=NOW)
    other_user = await p.handle(req(b"bob", code_at(NOW), state_of(d)), now=NOW)
    assert other_user.verdict is Verdict.REJECT
    # a consumed State cannot be used again, even with the right user
    again = await p.handle(req(b"alice", code_at(NOW), state_of(d)), now=NOW)
    assert again.verdict is Verdict.REJECT and again.reason == "unknown or expired State"


async def test_expired_state_rejected(env):
    make, _, _ = env
    p = make(challenge_ttl_s=60)
    d = await p.handle(req(b"alice", b"pw"), now=NOW)
    late = NOW + timedelta(seconds=61)
    r = await p.handle(req(b"alice", code_at(late), state_of(d)), now=late)
    assert r.verdict is Verdict.REJECT


async def test_wrong_codes_until_max_attempts(env):
    make, _, _ = env
    p = make(max_attempts=3)
    d = await p.handle(req(b"alice", b"pw"), now=NOW)
    for _ in range(2):
        d = await p.handle(req(b"alice", b"000000", state_of(d)), now=NOW)
        assert d.verdict is Verdict.CHALLENGE
    d = await p.handle(req(b"alice", b"000000", state_of(d)), now=NOW)
    assert d.verdict is Verdict.REJECT and "no attempts left" in d.reason


async def test_totp_window_and_replay(env):
    make, _, _ = env
    p = make()
    for offset, expected in ((-30, Verdict.ACCEPT), (0, Verdict.ACCEPT), (90, Verdict.REJECT)):
        code = code_at(NOW + timedelta(seconds=offset))
        r = await p.handle(req(b"alice", b"pw," + code), now=NOW)
        assert r.verdict is expected, offset
    # ±1 step: +30 s is fine once; the same step never twice (replay guard)
    code = code_at(NOW + timedelta(seconds=30))
    assert (await p.handle(req(b"alice", b"pw," + code), now=NOW)).verdict is Verdict.ACCEPT
    assert (await p.handle(req(b"alice", b"pw," + code), now=NOW)).verdict is Verdict.REJECT


async def test_inline_password_with_delimiter_is_split_only_on_code_shape(env):
    make, upstream, store = env
    upstream.passwords[b"alice"] = b"p,w"
    p = make()
    d = await p.handle(req(b"alice", b"p,w"), now=NOW)  # "w" is not a code: whole password
    assert d.verdict is Verdict.CHALLENGE
    assert upstream.calls[-1] == b"p,w"
    p2 = make(inline=False)
    d = await p2.handle(req(b"alice", b"p,w," + code_at(NOW)), now=NOW)
    assert d.verdict is Verdict.REJECT and upstream.calls[-1] == b"p,w," + code_at(NOW)


async def test_unknown_users_policy_and_no_factor(env):
    make, upstream, _ = env
    assert (await make().handle(req(b"stranger", b"pw"), now=NOW)).reason == "unknown user"
    assert upstream.calls == [b"pw"]  # decided after the password, like a known user
    wrong = await make().handle(req(b"stranger", b"nope"), now=NOW)
    assert wrong.verdict is Verdict.REJECT and not wrong.local  # same answer as a known user's wrong password
    po = await make(unknown_users="password-only").handle(req(b"stranger", b"pw"), now=NOW)
    assert po.verdict is Verdict.ACCEPT
    nf = await make().handle(req(b"nofactor", b"pw"), now=NOW)
    assert nf.verdict is Verdict.REJECT and b"No second factor" in dict(nf.attrs)[wire.REPLY_MESSAGE]


async def test_upstream_down_fails_closed_and_reject_relayed(env):
    make, upstream, _ = env
    p = make()
    bad = await p.handle(req(b"alice", b"nope"), now=NOW)
    assert bad.verdict is Verdict.REJECT and not bad.local
    assert dict(bad.attrs)[wire.REPLY_MESSAGE] == b"bad password"
    upstream.down = True
    down = await p.handle(req(b"alice", b"pw"), now=NOW)
    assert down.verdict is Verdict.REJECT and down.reason == "upstream unavailable"


async def test_no_password_rejected(env):
    make, _, _ = env
    r = await make().handle(req(b"alice", None), now=NOW)
    assert r.verdict is Verdict.REJECT


async def test_wrong_codes_lock_the_token_across_challenges(env):
    make, _, store = env
    p = make(max_attempts=3, lockout_failures=0)  # the user lockout is tested in test_controls.py
    p.otp.max_failures = 4  # type: ignore[attr-defined]
    guesses = 0
    for _ in range(2):  # two challenges, attacker holding the password
        d = await p.handle(req(b"alice", b"pw"), now=NOW)
        while d.verdict is Verdict.CHALLENGE:
            d = await p.handle(req(b"alice", b"000000", state_of(d)), now=NOW)
            guesses += 1
    assert guesses == 6
    # now even the right code is refused, inline or challenged, until the lockout passes
    r = await p.handle(req(b"alice", b"pw," + code_at(NOW)), now=NOW)
    assert r.verdict is Verdict.REJECT and "locked" in r.reason
    later = NOW + timedelta(seconds=301)
    ok = await p.handle(req(b"alice", b"pw," + code_at(later)), now=later)
    assert ok.verdict is Verdict.ACCEPT
    _, tokens = await store.login_view("alice")
    assert tokens[0].fail_count == 0  # success clears the counter


async def test_enrolled_user_cannot_dodge_mfa_by_spelling(env):
    make, upstream, _ = env
    p = make(unknown_users="password-only")
    for spelling in (b"ALICE", b"alice@corp.example", b"CORP\\alice"):
        upstream.passwords[spelling] = b"pw"
        d = await p.handle(req(spelling, b"pw"), now=NOW)
        assert d.verdict is Verdict.CHALLENGE, spelling  # not "password only (unknown user)"


def test_decision_with_user_is_replace_with_every_field_kept():
    from dataclasses import fields, replace

    from radmfa.core.model import Decision, User

    set_all = {
        "verdict": Verdict.REJECT, "reason": "r", "factor": "sms", "attrs": ((18, b"m"),), "local": False,
        "backend_failure": True, "phone": "+15550100", "device": "phone-1", "user": User(1, "bob"),
    }
    assert set_all.keys() == {f.name for f in fields(Decision)}
    decision = Decision(**set_all)  # type: ignore[arg-type]
    alice = User(2, "alice")
    assert decision.with_user(alice) == replace(decision, user=alice)
