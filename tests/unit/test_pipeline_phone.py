"""The pipeline's phone block under in-memory senders, a fake upstream and
the real SQLite store: modes, primary = "none", the limits and delivery seams."""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest

from radmfa.config import ClientPolicy, FraudConfig, LimitsConfig, MethodLimit, MfaConfig, PhoneConfig, ProviderConfig
from radmfa.core.model import AuthRequest, NewToken, NewUser, PrimaryResult, Verdict
from radmfa.core.session import Event
from radmfa.delivery import Senders
from radmfa.factors.phone import PhoneFactors
from radmfa.radius import wire
from radmfa.store import open_store
from tests.fakes.ports import FakeSenders, make_pipeline

# Held requests wait in real time, so each step takes the real clock (not a
# time fixed at import: the suite may run minutes later).



@dataclass
class Upstream:
    calls: list[bytes] = field(default_factory=list)

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        self.calls.append(password)
        if password in (b"pw", b""):  # b"": MS-CHAPv2 relayed as is
            return PrimaryResult(True, ((11, b"vpn"),))
        return PrimaryResult(False)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def req(user: bytes, password: bytes | None, state: bytes | None = None, rid: str = "r1") -> AuthRequest:
    return AuthRequest(rid, "nas1", "10.0.0.1", user, password, state, "", bytes(16), ())


@pytest.fixture
async def env(tmp_path):
    store = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("alice", mobile="+14155550123", email="a@example.com", push_enrolled=True))
    await store.add_user(NewUser("bob", mobile="+14155550111", default_method="push", push_enrolled=True))
    phone, upstream = FakeSenders(), Upstream()
    providers = {"p": ProviderConfig("p", "console")}

    def make(mode: str = "challenge", primary: str = "upstream", oob_timeout_s: float = 5,
             limits: LimitsConfig | None = None, **mfa: Any):
        cfg = PhoneConfig(sms_provider="p", voice_provider="p", push_provider="p", email_provider="p",
                          oob_timeout_s=oob_timeout_s, providers=providers)
        senders = Senders(sms=phone, voice=phone, push=phone, email=phone)
        factors = PhoneFactors(store, senders, cfg, FraudConfig(), public_url="https://mfa.example", limits_cfg=limits)
        clients = {"nas1": ClientPolicy("nas1", mode=mode, primary=primary)}
        pipe = make_pipeline(MfaConfig(**mfa), upstream, store, clients=clients, phone=factors, prompt="p")
        return pipe, factors

    yield make, phone, upstream, store
    await store.close()


def state_of(decision) -> bytes:
    return dict(decision.attrs)[wire.STATE]


def reply(decision) -> str:
    return dict(decision.attrs).get(wire.REPLY_MESSAGE, b"").decode()


async def test_menu_text_code_accepts_with_upstream_attributes(env):
    make, phone, _, _ = env
    pipe, _ = make()
    menu = await pipe.handle(req(b"alice", b"pw"), now=datetime.now(UTC))
    assert menu.verdict is Verdict.CHALLENGE and reply(menu).startswith("Choose: 1 = text to •••0123")
    asked = await pipe.handle(req(b"alice", b"1", state_of(menu)), now=datetime.now(UTC))
    assert asked.verdict is Verdict.CHALLENGE and asked.factor == "sms"
    code = re.search(r"\d{6}", phone.sent[-1][2]).group(0)  # type: ignore[union-attr]
    done = await pipe.handle(req(b"alice", code.encode(), state_of(asked)), now=datetime.now(UTC))
    assert done.verdict is Verdict.ACCEPT and (11, b"vpn") in done.attrs and done.factor == "sms"


async def test_primary_none_takes_no_password_and_never_lets_unknown_users_in(env):
    make, phone, upstream, _ = env
    pipe, factors = make(mode="oob", primary="none", unknown_users="password-only")

    async def approve(actions):
        oob_id = actions[0][1].split("/")[-2]
        await factors.decide(oob_id, Event.APPROVE, now=datetime.now(UTC))

    phone.on_push = approve
    done = await pipe.handle(req(b"bob", None), now=datetime.now(UTC))
    assert done.verdict is Verdict.ACCEPT and done.factor == "push" and upstream.calls == []
    stranger = await pipe.handle(req(b"nobody", None), now=datetime.now(UTC))
    assert stranger.verdict is Verdict.REJECT and stranger.reason == "unknown user"


async def test_oob_mode_relays_a_request_without_user_password(env):
    make, phone, upstream, _ = env
    pipe, factors = make(mode="oob")

    async def deny(actions):
        await factors.decide(actions[1][1].split("/")[-2], Event.DENY, now=datetime.now(UTC))

    phone.on_push = deny
    done = await pipe.handle(req(b"bob", None), now=datetime.now(UTC))
    assert upstream.calls == [b""] and done.verdict is Verdict.REJECT and done.reason == "denied"
    assert "denied" in reply(done)
    challenge_client, _ = make()
    refused = await challenge_client.handle(req(b"bob", None), now=datetime.now(UTC))
    assert refused.reason.startswith("no User-Password")


async def test_unanswered_hold_rejects_and_the_late_answer_changes_nothing(env):
    make, phone, _, store = env
    pipe, factors = make(mode="auto", oob_timeout_s=0.3)
    done = await pipe.handle(req(b"alice", b"pw,call"), now=datetime.now(UTC))
    assert done.verdict is Verdict.REJECT and done.reason == "no answer" and phone.sent[0][0] == "voice"
    oob_id = phone.sent[0][2].split("/")[-2]
    assert await factors.decide(oob_id, Event.APPROVE, now=datetime.now(UTC)) is None


async def test_limits_refuse_before_anything_is_sent(env):
    make, phone, _, _ = env
    one = MethodLimit(per_user=1, per_hour=100)
    pipe, factors = make(mode="auto", limits=LimitsConfig(sms=one, push=one))

    async def deny(actions):
        await factors.decide(actions[1][1].split("/")[-2], Event.DENY, now=datetime.now(UTC))

    phone.on_push = deny
    assert (await pipe.handle(req(b"alice", b"pw,sms"), now=datetime.now(UTC))).verdict is Verdict.CHALLENGE
    assert (await pipe.handle(req(b"alice", b"pw,push"), now=datetime.now(UTC))).reason == "denied"
    assert len(phone.sent) == 2
    texted = await pipe.handle(req(b"alice", b"pw,sms"), now=datetime.now(UTC))
    pushed = await pipe.handle(req(b"alice", b"pw,push"), now=datetime.now(UTC))
    for d in (texted, pushed):
        assert d.verdict is Verdict.REJECT and d.reason == "rate-limited:user" and "Too many" in reply(d)
    assert len(phone.sent) == 2


async def test_delivery_failure_rejects_with_a_clear_message(env):
    make, phone, _, _ = env
    phone.fail = True
    pipe, _ = make(mode="auto")
    for password in (b"pw,sms", b"pw,push"):
        d = await pipe.handle(req(b"alice", password), now=datetime.now(UTC))
        assert d.verdict is Verdict.REJECT and d.reason in ("delivery failed",) and "could not reach" in reply(d)


async def test_inline_keyword_for_a_method_the_user_lacks(env):
    make, _, _, _ = env
    pipe, _ = make(mode="auto")
    d = await pipe.handle(req(b"bob", b"pw,email"), now=datetime.now(UTC))
    assert d.verdict is Verdict.REJECT and "not available" in d.reason


async def test_a_joined_hold_gets_the_one_accept(env):
    make, phone, _, _ = env
    pipe, factors = make(mode="auto")
    older = asyncio.create_task(pipe.handle(req(b"alice", b"pw,push", rid="r1"), now=datetime.now(UTC)))
    while not phone.sent:
        await asyncio.sleep(0.01)
    newer = asyncio.create_task(pipe.handle(req(b"alice", b"pw,push", rid="r2"), now=datetime.now(UTC)))
    first = await older  # taken over: rejected at once, before any answer
    assert first.verdict is Verdict.REJECT and first.reason == "superseded"
    oob_id = (await factors.store.pending_oob_for("radmfa-alice-…", "push", now=datetime.now(UTC)))[0].id
    assert await factors.decide(oob_id, Event.APPROVE, now=datetime.now(UTC)) is not None
    second = await newer
    assert second.verdict is Verdict.ACCEPT and len(phone.sent) == 1


async def test_a_request_from_another_station_cannot_collect_a_running_push(env):
    """Alice's push is running; someone with her password asks from another
    Calling-Station-Id. Joining would hand them the Accept when Alice taps
    Approve: they are refused at once, and Alice's own request gets it."""
    make, phone, _, _ = env
    pipe, factors = make(mode="auto")
    mine = replace(req(b"alice", b"pw,push", rid="r1"), calling_station_id="198.51.100.7")
    theirs = replace(req(b"alice", b"pw,push", rid="r2"), calling_station_id="203.0.113.66")
    alice = asyncio.create_task(pipe.handle(mine, now=datetime.now(UTC)))
    while not phone.sent:
        await asyncio.sleep(0.01)
    intruder = await pipe.handle(theirs, now=datetime.now(UTC))
    assert intruder.verdict is Verdict.REJECT and intruder.reason == "another sign-in pending"
    oob_id = (await factors.store.pending_oob_for("radmfa-alice-…", "push", now=datetime.now(UTC)))[0].id
    assert await factors.decide(oob_id, Event.APPROVE, now=datetime.now(UTC)) is not None
    assert (await alice).verdict is Verdict.ACCEPT and len(phone.sent) == 1


async def test_menu_answer_that_is_no_choice_shows_the_menu_again(env):
    make, phone, _, _ = env
    pipe, _ = make()
    menu = await pipe.handle(req(b"alice", b"pw"), now=datetime.now(UTC))
    again = await pipe.handle(req(b"alice", b"9", state_of(menu)), now=datetime.now(UTC))
    assert again.verdict is Verdict.CHALLENGE and again.reason == "not a menu choice"
    assert reply(again).startswith("Choose: 1 = text") and phone.sent == []


async def test_a_code_typed_at_the_menu_is_recorded_by_its_token_kind(env):
    make, _, _, store = env
    seed = bytes(range(20))
    await store.add_token("alice", NewToken("totp", seed))
    pipe, _ = make()
    now = datetime.now(UTC)
    menu = await pipe.handle(req(b"alice", b"pw"), now=now)
    assert menu.verdict is Verdict.CHALLENGE and menu.factor == "menu"
    code = pyotp.TOTP(base64.b32encode(seed).decode()).at(now).encode()
    done = await pipe.handle(req(b"alice", code, state_of(menu)), now=now)
    assert done.verdict is Verdict.ACCEPT and done.factor == "totp"
    # bob has no token: an answer that is no menu key is still the menu's
    menu = await pipe.handle(req(b"bob", b"pw"), now=now)
    again = await pipe.handle(req(b"bob", b"9", state_of(menu)), now=now)
    assert again.reason == "not a menu choice" and again.factor == "menu"


MOBILE, TOPIC, EMAIL = "+14155550123", "radmfa-alice-…", "a@example.com"


async def test_every_decision_of_a_phone_flow_names_the_number_or_device(env):
    """Seed 002: the number texted or called, the push device, the address a
    code was mailed to; on the menu, the code sent, the answer, a denial."""
    make, phone, _, _ = env
    pipe, factors = make()
    now = datetime.now(UTC)

    async def login(choice: bytes) -> list:
        menu = await pipe.handle(req(b"alice", b"pw"), now=now)
        chosen = await pipe.handle(req(b"alice", choice, state_of(menu)), now=now)
        return [menu, chosen]

    where = [(d.phone, d.device) for d in await login(b"1")]  # menu, then "text to •••0123"
    code = re.search(r"\d{6}", phone.sent[-1][2]).group(0)  # type: ignore[union-attr]
    texted = await login(b"1")
    wrong = await pipe.handle(req(b"alice", b"000000", state_of(texted[1])), now=now)
    fresh = re.search(r"\d{6}", phone.sent[-1][2]).group(0)  # type: ignore[union-attr]
    right = await pipe.handle(req(b"alice", fresh.encode(), state_of(wrong)), now=now)
    assert code and right.verdict is Verdict.ACCEPT and right.factor == "sms"
    assert where == [(MOBILE, TOPIC), (MOBILE, "")]
    expected = [(MOBILE, TOPIC), (MOBILE, ""), (MOBILE, ""), (MOBILE, "")]
    assert [(d.phone, d.device) for d in (*texted, wrong, right)] == expected

    mailed = await login(b"4")  # 1 text, 2 call, 3 push, 4 e-mail
    assert mailed[1].factor == "email" and mailed[1].verdict is Verdict.CHALLENGE
    mail_code = re.search(r"\d{6}", phone.sent[-1][2]).group(0)  # type: ignore[union-attr]
    mail_ok = await pipe.handle(req(b"alice", mail_code.encode(), state_of(mailed[1])), now=now)
    assert mail_ok.verdict is Verdict.ACCEPT
    assert [(d.phone, d.device) for d in (mailed[1], mail_ok)] == [("", EMAIL)] * 2

    async def answer(event: Event):
        async def decide(actions):
            await factors.decide(actions[0][1].split("/")[-2], event, now=datetime.now(UTC))
        return decide

    phone.on_push = await answer(Event.APPROVE)
    approved = (await login(b"3"))[1]
    phone.on_push = await answer(Event.DENY)
    denied = (await login(b"3"))[1]
    assert (approved.verdict, approved.factor, denied.reason) == (Verdict.ACCEPT, "push", "denied")
    assert [(d.phone, d.device) for d in (approved, denied)] == [("", TOPIC)] * 2


async def test_a_call_that_is_not_answered_or_refused_still_names_the_number(env):
    make, phone, _, _ = env
    pipe, _ = make(mode="auto", oob_timeout_s=0.3, limits=LimitsConfig(sms=MethodLimit(per_user=1, per_hour=9)))
    now = datetime.now(UTC)
    timed_out = await pipe.handle(req(b"alice", b"pw,call"), now=now)
    assert timed_out.reason == "no answer" and (timed_out.phone, timed_out.factor) == (MOBILE, "voice")
    await pipe.handle(req(b"alice", b"pw,sms"), now=now)
    limited = await pipe.handle(req(b"alice", b"pw,sms"), now=now)
    assert limited.reason == "rate-limited:user" and limited.phone == MOBILE
    phone.fail = True
    undelivered = await pipe.handle(req(b"alice", b"pw,email"), now=now)
    assert undelivered.reason == "delivery failed" and undelivered.device == EMAIL


@dataclass
class Deadline:
    """The listener's side of core.ports.Deadline: what a request asked for."""

    extensions: list[float] = field(default_factory=list)

    def extend(self, seconds: float) -> None:
        self.extensions.append(seconds)


async def test_a_held_request_moves_its_own_deadline_and_a_code_does_not(env):
    """The listener cancels a request after request_timeout_s; a call or push
    waits for a person, up to oob_timeout_s, and says so through the deadline
    handed to the pipeline (never through a side channel)."""
    make, phone, _, _ = env
    pipe, factors = make(mode="auto", oob_timeout_s=0.3)
    held, texted = Deadline(), Deadline()
    await pipe.handle(req(b"alice", b"pw,call"), now=datetime.now(UTC), deadline=held)
    await pipe.handle(req(b"alice", b"pw,sms"), now=datetime.now(UTC), deadline=texted)
    assert held.extensions == [0.3 + 5] and texted.extensions == []
    menu_pipe, _ = make(oob_timeout_s=0.3)
    menu, chosen = Deadline(), Deadline()
    asked = await menu_pipe.handle(req(b"alice", b"pw"), now=datetime.now(UTC), deadline=menu)
    await menu_pipe.handle(req(b"alice", b"2", state_of(asked)), now=datetime.now(UTC), deadline=chosen)  # call
    assert menu.extensions == [] and chosen.extensions == [0.3 + 5]
