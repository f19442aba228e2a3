"""The user the pipeline decides on is the user the upstream authenticates,
wherever a name comes in: the User-Name, the upstream's answer, a challenge
answer, and the password splits (inline code, `auto` keyword), which must
leave the name alone. Under a fake upstream and the real SQLite store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.config import ClientPolicy, FraudConfig, MfaConfig, PhoneConfig, ProviderConfig
from radmfa.core.model import AuthRequest, NewToken, NewUser, PrimaryResult, Verdict
from radmfa.core.pipeline import Pipeline
from radmfa.delivery import Senders
from radmfa.factors.phone import PhoneFactors
from radmfa.radius import wire
from radmfa.store import open_store
from tests.fakes.ports import FakeSenders, make_pipeline
from tests.unit.test_pipeline import NOW, SEED, code_at


@dataclass
class CUpstream:
    """Reads the User-Name as a C server does: up to the first NUL."""

    passwords: dict[bytes, bytes] = field(default_factory=lambda: {b"alice": b"pw", b"bob": b"pw"})
    canonical: str | None = None  # the name its Accept gives, if any
    seen: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        self.seen.append((request.username, password))
        name = (request.username or b"").split(b"\x00")[0]
        if self.passwords.get(name) == password:
            return PrimaryResult(True, ((11, b"vpn"),), canonical_name=self.canonical)
        return PrimaryResult(False)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def req(user: bytes | None, password: bytes | None, state: bytes | None = None, client: str = "nas1") -> AuthRequest:
    return AuthRequest("r1", client, "10.0.0.1", user, password, state, "", bytes(16), ())


@pytest.fixture
async def env(tmp_path):
    store = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("alice", mobile="+14155550123", push_enrolled=True))
    await store.add_token("alice", NewToken("totp", SEED))
    upstream = CUpstream()

    def make(mode: str = "challenge", **mfa: object) -> Pipeline:
        cfg = MfaConfig(unknown_users="password-only", **mfa)  # type: ignore[arg-type]
        if mode == "challenge":
            return make_pipeline(cfg, upstream, store, prompt="code")
        phone_cfg = PhoneConfig(push_provider="p", providers={"p": ProviderConfig("p", "console")})
        phone = FakeSenders()
        senders = Senders(sms=phone, voice=phone, push=phone, email=phone)
        phone_factors = PhoneFactors(store, senders, phone_cfg, FraudConfig(), public_url="https://mfa.example")
        clients = {"nas1": ClientPolicy("nas1", mode=mode)}
        return make_pipeline(cfg, upstream, store, clients=clients, phone=phone_factors, prompt="code")

    yield make, upstream, store
    await store.close()


@pytest.mark.parametrize(
    "name",
    [b"alice\x00", b"alice\x00x", b"alice\x00@corp.example", b"alice ", b" alice", b"alice\xff", b"",
     "al\u00adice".encode(), b"alice\xc0\x80"],
)
async def test_a_bad_name_is_refused_and_never_reaches_the_upstream(env, name):
    make, upstream, _ = env
    d = await make().handle(req(name, b"pw"), now=NOW)
    assert (d.verdict, d.reason) == (Verdict.REJECT, "bad user name")
    assert upstream.seen == []


async def test_no_user_name_at_all_is_said_so(env):
    make, upstream, _ = env
    d = await make().handle(req(None, b"pw"), now=NOW)
    assert (d.verdict, d.reason) == (Verdict.REJECT, "no User-Name")
    assert upstream.seen == []


async def test_a_challenge_answer_with_a_bad_name_is_refused_and_leaves_the_session(env):
    make, _, _ = env
    p = make()
    first = await p.handle(req(b"alice", b"pw"), now=NOW)
    state = dict(first.attrs)[wire.STATE]
    later = NOW + timedelta(seconds=5)
    for name in (b"alice\x00", b"alice "):
        bad = await p.handle(req(name, code_at(NOW), state), now=later)
        assert (bad.verdict, bad.reason) == (Verdict.REJECT, "bad user name")
    ok = await p.handle(req(b"alice", code_at(NOW), state), now=later)
    assert ok.verdict is Verdict.ACCEPT


@pytest.mark.parametrize(
    ("canonical", "verdict", "reason"),
    [
        (None, Verdict.CHALLENGE, "challenge sent"),  # the upstream does not say
        ("alice", Verdict.CHALLENGE, "challenge sent"),
        ("ALICE", Verdict.CHALLENGE, "challenge sent"),
        ("CORP\\alice", Verdict.CHALLENGE, "challenge sent"),
        ("bob", Verdict.REJECT, "directory names another user"),
        ("alice ", Verdict.REJECT, "directory names another user"),  # same key, not a valid name
        ("alice\x00", Verdict.REJECT, "directory names another user"),
        ("alice\ufffd", Verdict.REJECT, "directory names another user"),  # an Accept's User-Name not UTF-8
        ("", Verdict.REJECT, "directory names another user"),
    ],
)
async def test_the_upstream_must_name_the_same_user(env, canonical, verdict, reason):
    make, upstream, _ = env
    upstream.canonical = canonical
    d = await make().handle(req(b"alice", b"pw"), now=NOW)
    assert (d.verdict, d.reason) == (verdict, reason)


async def test_an_unknown_name_the_upstream_maps_onto_an_enrolled_user_is_refused(env):
    make, upstream, _ = env
    upstream.passwords[b"carol"] = b"pw"
    upstream.canonical = "alice"  # carol is unknown to the store: password-only, were it not for this
    d = await make().handle(req(b"carol", b"pw"), now=NOW)
    assert (d.verdict, d.reason) == (Verdict.REJECT, "directory names another user")


async def test_the_inline_code_split_leaves_the_name_alone(env):
    make, upstream, _ = env
    upstream.passwords[b"CORP\\alice"] = b"pw"
    d = await make().handle(req(b"CORP\\alice", b"pw," + code_at(NOW)), now=NOW)
    assert d.verdict is Verdict.ACCEPT and d.reason == "password and inline code"
    assert d.user is not None and d.user.name == "alice"
    assert upstream.seen[-1] == (b"CORP\\alice", b"pw")  # exactly the NAS's name, the password only


async def test_the_auto_keyword_split_leaves_the_name_alone(env):
    make, upstream, _ = env
    pipe = make(mode="auto")
    bad = await pipe.handle(req(b"alice\x00", b"pw,push"), now=datetime.now(UTC))
    assert (bad.verdict, bad.reason) == (Verdict.REJECT, "bad user name")
    await pipe.handle(req(b"alice", b"pw,sms"), now=datetime.now(UTC))  # no SMS provider: any outcome
    assert upstream.seen == [(b"alice", b"pw")]
