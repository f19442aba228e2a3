"""An upstream's own Access-Challenge relayed under radmfa's State: the pure
rules (core/upstream_challenge.py) and the pipeline, on the in-memory login
store and on SQLite, with an upstream that challenges like RSA SecurID."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from radmfa.config import ClientPolicy, MfaConfig
from radmfa.core import upstream_challenge as relay
from radmfa.core.model import AUDIT_METHODS, AuthRequest, NewToken, NewUser, PrimaryResult, Verdict
from radmfa.radius import wire
from radmfa.store import open_store
from tests.fakes.ports import FakeLoginStore, make_pipeline

NOW = datetime(2026, 11, 22, 8, 55, 0, tzinfo=UTC)
SEED = bytes(range(20))
FILTER = (11, b"securid-users")


def code_at(when: datetime) -> bytes:
    return pyotp.TOTP(base64.b32encode(SEED).decode()).at(when).encode()


def req(user: bytes, password: bytes, state: bytes | None = None, client: str = "nas1") -> AuthRequest:
    attrs = [(wire.USER_NAME, user), (wire.USER_PASSWORD, b"x" * 16), (wire.NAS_IDENTIFIER, b"vpn")]
    if state is not None:
        attrs.append((wire.STATE, state))
    return AuthRequest("r1", client, "10.0.0.1", user, password, state, "", bytes(16), tuple(attrs))


@dataclass
class ChallengingUpstream:
    """`pw` opens a two-step flow (next tokencode, then new PIN), each answer
    under the State it challenged with; anything else is rejected."""

    steps: tuple[tuple[bytes, bytes, bytes], ...] = (
        (b"up-state-1", b"Enter the next tokencode", b"424242"),
        (b"up-state-2", b"Choose a new PIN", b"1234"),
    )
    seen: list[AuthRequest] = field(default_factory=list)

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        self.seen.append(request)
        states = [v for t, v in request.attrs if t == wire.STATE]
        if not states:
            expected, step = b"pw", 0
        else:
            index = next((i for i, s in enumerate(self.steps) if [s[0]] == states), None)
            if index is None:
                return PrimaryResult(False, reason="upstream reject")
            expected, step = self.steps[index][2], index + 1
        if password != expected:
            return PrimaryResult(False, reply_message=b"Access denied", reason="upstream reject")
        if step == len(self.steps):
            return PrimaryResult(True, (FILTER,), reason="upstream accept")
        state, prompt, _ = self.steps[step]
        attrs = ((wire.REPLY_MESSAGE, prompt), (wire.STATE, state), (wire.SESSION_TIMEOUT, (60).to_bytes(4, "big")),
                 (wire.PROXY_STATE, b"theirs"))
        return PrimaryResult(False, reply_message=prompt, reason="upstream challenge", challenge=attrs)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


@pytest.fixture(params=["memory", "sqlite"])
async def env(request, tmp_path):
    if request.param == "memory":
        store = FakeLoginStore()
    else:
        store = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("alice"))
    await store.add_token("alice", NewToken("totp", SEED))
    upstream = ChallengingUpstream()

    def make(choice: str = "relay", **mfa: object):
        clients = {"nas1": ClientPolicy(name="nas1", upstream_challenge=choice)}  # type: ignore[arg-type]
        return make_pipeline(MfaConfig(**mfa), upstream, store, clients=clients)  # type: ignore[arg-type]

    yield make, upstream
    if request.param == "sqlite":
        await store.close()


def state_of(decision) -> bytes:
    return dict(decision.attrs)[wire.STATE]


async def _through_upstream(p, upstream, *, now=NOW):
    """Password, then both upstream challenges answered; the decision after the last answer."""
    first = await p.handle(req(b"alice", b"pw"), now=now)
    assert first.verdict is Verdict.CHALLENGE and first.reason == "upstream challenge relayed"
    assert dict(first.attrs)[wire.REPLY_MESSAGE] == b"Enter the next tokencode"
    ours = state_of(first)
    assert len(ours) == 16 and ours != b"up-state-1"  # the NAS never sees the upstream's State
    assert wire.PROXY_STATE not in dict(first.attrs)
    second = await p.handle(req(b"alice", b"424242", ours), now=now)
    forwarded = upstream.seen[-1]
    assert [v for t, v in forwarded.attrs if t == wire.STATE] == [b"up-state-1"]
    assert (wire.NAS_IDENTIFIER, b"vpn") in forwarded.attrs
    assert second.verdict is Verdict.CHALLENGE and dict(second.attrs)[wire.REPLY_MESSAGE] == b"Choose a new PIN"
    assert state_of(second) not in (ours, b"up-state-2")
    return await p.handle(req(b"alice", b"1234", state_of(second)), now=now)


async def test_relayed_challenges_then_radmfa_code(env):
    make, upstream = env
    p = make()
    after = await _through_upstream(p, upstream)
    assert after.verdict is Verdict.CHALLENGE and after.factor == "totp"  # radmfa's own factor now
    ok = await p.handle(req(b"alice", code_at(NOW), state_of(after)), now=NOW)
    assert ok.verdict is Verdict.ACCEPT and FILTER in ok.attrs


async def test_relay_only_accepts_after_the_upstream_accepts(env):
    make, upstream = env
    ok = await _through_upstream(make("relay-only"), upstream)
    assert ok.verdict is Verdict.ACCEPT and ok.factor == "upstream" and FILTER in ok.attrs


async def test_wrong_answer_is_the_upstreams_reject(env):
    make, _ = env
    p = make()
    first = await p.handle(req(b"alice", b"pw"), now=NOW)
    wrong = await p.handle(req(b"alice", b"999999", state_of(first)), now=NOW)
    assert wrong.verdict is Verdict.REJECT and wrong.reason == "upstream reject"
    assert (wire.REPLY_MESSAGE, b"Access denied") in wrong.attrs and not wrong.local


async def test_relay_state_single_use_bound_and_expiring(env):
    make, _ = env
    p = make(challenge_ttl_s=300)
    first = await p.handle(req(b"alice", b"pw"), now=NOW)
    assert (await p.handle(req(b"alice", b"424242", state_of(first), client="nas2"), now=NOW)).verdict \
        is Verdict.REJECT
    again = await p.handle(req(b"alice", b"424242", state_of(first)), now=NOW)
    assert again.reason == "unknown or expired State"
    # The upstream's Session-Timeout (60 s) is shorter than radmfa's TTL.
    first = await p.handle(req(b"alice", b"pw"), now=NOW)
    late = await p.handle(req(b"alice", b"424242", state_of(first)), now=NOW + timedelta(seconds=61))
    assert late.verdict is Verdict.REJECT and late.reason == "unknown or expired State"


async def test_reject_policy_keeps_refusing(env):
    make, upstream = env
    d = await make("reject").handle(req(b"alice", b"pw"), now=NOW)
    assert d.verdict is Verdict.REJECT and d.reason == "upstream challenge refused"
    assert (wire.REPLY_MESSAGE, b"Enter the next tokencode") in d.attrs
    assert len(upstream.seen) == 1


def test_pure_rules():
    challenge = ((wire.REPLY_MESSAGE, b"m"), (wire.STATE, b"s"), (wire.PROMPT, b"\0\0\0\0"),
                 (wire.PROXY_STATE, b"p"), (wire.SESSION_TIMEOUT, (0).to_bytes(4, "big")))
    assert relay.relayed_attrs(challenge) == ((wire.REPLY_MESSAGE, b"m"), (wire.PROMPT, b"\0\0\0\0"),
                                              (wire.SESSION_TIMEOUT, bytes(4)))
    assert relay.ttl_s(challenge, 300) == 300  # 0 means no limit
    assert relay.ttl_s(((wire.SESSION_TIMEOUT, (30).to_bytes(4, "big")),), 300) == 30
    assert relay.FACTOR in AUDIT_METHODS  # `report --method upstream`
    assert relay.relays("relay") and relay.relays("relay-only") and not relay.relays("reject")
    assert relay.skips_own_factor("relay-only") and not relay.skips_own_factor("relay")
    opened = relay.open_relay(req(b"alice", b"pw"), ((wire.REPLY_MESSAGE, b"m"),), state=bytes(16),
                              challenge_ttl_s=300, now=NOW)
    # An upstream challenge without State: the answer goes up with none.
    answer = relay.forwarded(req(b"alice", b"1", bytes(16)), opened)
    assert all(t != wire.STATE for t, _ in answer.attrs) and answer.state is None
