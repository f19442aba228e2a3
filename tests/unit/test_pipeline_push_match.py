"""Number matching and the deny streak through the pipeline, with in-memory
senders as the phone and the real SQLite store."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from radmfa.config import ClientPolicy, FraudConfig, LimitsConfig, MfaConfig, PhoneConfig, ProviderConfig
from radmfa.core.model import AuthRequest, NewUser, PrimaryResult, UserState, Verdict
from radmfa.core.session import Event
from radmfa.delivery import Senders
from radmfa.factors.phone import PhoneFactors
from radmfa.radius import wire
from radmfa.store import open_store
from tests.fakes.ports import FakeSenders, make_pipeline


@dataclass
class Upstream:
    calls: list[bytes] = field(default_factory=list)

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        return PrimaryResult(password in (b"pw", b""), ((11, b"vpn"),))

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def req(user: bytes, password: bytes | None, state: bytes | None = None, station: str = "198.51.100.7") -> AuthRequest:
    return AuthRequest("r1", "nas1", "10.0.0.1", user, password, state, station, bytes(16), ())


@dataclass
class Phone(FakeSenders):
    """The phone: remembers each push's buttons and, when told, taps one."""

    pushes: list[list[tuple[str, str]]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    async def push(self, topic: str, *, title: str, text: str, actions: Any, fields: Any = None) -> None:
        self.pushes.append(list(actions))
        self.texts.append(text)
        await super().push(topic, title=title, text=text, actions=actions, fields=fields)


def oob_id(url: str) -> str:
    return url.split("?")[0].split("/")[-2]


@pytest.fixture
async def env(tmp_path):
    store = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("bob", mobile="+14155550111", default_method="push", push_enrolled=True))
    phone = Phone()

    def make(mode: str = "challenge", match: bool = True, oob_timeout_s: float = 10, streak: int = 3):
        cfg = PhoneConfig(sms_provider="p", push_provider="p", oob_timeout_s=oob_timeout_s,
                          providers={"p": ProviderConfig("p", "console")})
        factors = PhoneFactors(store, Senders(sms=phone, push=phone), cfg, FraudConfig(),
                               public_url="https://mfa.example", limits_cfg=LimitsConfig(push_deny_streak=streak),
                               app_name=lambda c: "Corporate VPN")
        clients = {"nas1": ClientPolicy("nas1", mode=mode, push_number_matching=match, remember_days=0)}
        return make_pipeline(MfaConfig(), Upstream(), store, clients=clients, phone=factors, prompt="p"), factors

    yield make, phone, store
    await store.close()


def reply(decision) -> str:
    return dict(decision.attrs).get(wire.REPLY_MESSAGE, b"").decode()


def state_of(decision) -> bytes:
    return dict(decision.attrs)[wire.STATE]


async def shown_number(pipe, user: bytes = b"bob", password: bytes = b"pw,push"):
    """The Access-Challenge that shows the number (auto mode: inline push)."""
    asked = await pipe.handle(req(user, password), now=datetime.now(UTC))
    assert asked.verdict is Verdict.CHALLENGE and asked.factor == "push", (asked.reason, reply(asked))
    number = re.search(r"number is (\d\d)\.", reply(asked)).group(1)  # type: ignore[union-attr]
    return asked, number


async def test_only_the_shown_number_approves(env):
    make, phone, _ = env
    pipe, factors = make(mode="auto")
    asked, number = await shown_number(pipe)
    (buttons,) = phone.pushes
    labels = [label for label, _ in buttons]
    assert len(set(labels)) == 3 and number in labels and all(re.fullmatch(r"[1-9]\d", x) for x in labels)
    assert "Corporate VPN, from 198.51.100.7, at " in phone.texts[0] and " UTC" in phone.texts[0]
    url = dict(buttons)[number]
    decided = await factors.decide_number(oob_id(url), int(number), now=datetime.now(UTC))
    assert decided is not None and decided.reason == "approved"
    done = await pipe.handle(req(b"bob", b"", state_of(asked)), now=datetime.now(UTC))
    assert done.verdict is Verdict.ACCEPT and done.factor == "push" and (11, b"vpn") in done.attrs


async def test_a_wrong_number_rejects_and_counts_as_a_deny(env):
    make, phone, store = env
    pipe, factors = make(mode="auto")
    asked, number = await shown_number(pipe)
    wrong = next(label for label, _ in phone.pushes[0] if label != number)
    answer = asyncio.create_task(pipe.handle(req(b"bob", b"", state_of(asked)), now=datetime.now(UTC)))
    await asyncio.sleep(0)  # the answer waits for the tap (held)
    await factors.decide_number(oob_id(phone.pushes[0][0][1]), int(wrong), now=datetime.now(UTC))
    done = await answer
    assert done.verdict is Verdict.REJECT and done.reason == "wrong number"
    assert reply(done) == "The wrong number was chosen on the phone."
    assert await store.push_streak("bob", now=datetime.now(UTC), window_s=3600, limit=3) == 1
    user = await store.get_user("bob")
    assert user is not None  # the lockout counts it too: the next failure is the second
    assert await store.note_mfa_failure(user.id, now=datetime.now(UTC)) == 2


async def test_a_pick_from_the_menu_also_matches(env):
    make, phone, _ = env
    pipe, factors = make(mode="challenge")
    menu = await pipe.handle(req(b"bob", b"pw"), now=datetime.now(UTC))
    key = re.search(r"(\d) = push", reply(menu)).group(1)  # type: ignore[union-attr]
    asked = await pipe.handle(req(b"bob", key.encode(), state_of(menu)), now=datetime.now(UTC))
    assert asked.verdict is Verdict.CHALLENGE and "Your sign-in number is" in reply(asked)
    assert len(phone.pushes[0]) == 3


async def test_an_oob_client_with_matching_shows_the_number_first(env):
    make, phone, _ = env
    pipe, _ = make(mode="oob")
    asked = await pipe.handle(req(b"bob", b"pw"), now=datetime.now(UTC))
    assert asked.verdict is Verdict.CHALLENGE and "Your sign-in number is" in reply(asked)


async def test_without_matching_the_push_has_approve_deny_and_fraud(env):
    make, phone, _ = env
    pipe, factors = make(mode="oob", match=False)

    async def approve(actions):
        await factors.decide(oob_id(actions[0][1]), Event.APPROVE, now=datetime.now(UTC))

    phone.on_push = approve
    done = await pipe.handle(req(b"bob", b"pw"), now=datetime.now(UTC))
    assert done.verdict is Verdict.ACCEPT
    assert [label for label, _ in phone.pushes[0]] == ["Approve", "Deny", "Deny and report fraud"]


async def test_a_deny_streak_blocks_pushes_and_reports_fraud_once(env):
    make, phone, store = env
    pipe, factors = make(mode="oob", match=False, streak=2)

    async def deny(actions):
        await factors.decide(oob_id(actions[1][1]), Event.DENY, now=datetime.now(UTC))

    phone.on_push = deny
    for _ in range(2):
        denied = await pipe.handle(req(b"bob", b"pw"), now=datetime.now(UTC))
        assert denied.verdict is Verdict.REJECT and denied.reason == "denied"
    refused = await pipe.handle(req(b"bob", b"pw"), now=datetime.now(UTC))
    assert refused.verdict is Verdict.REJECT and refused.reason == "push blocked: deny streak"
    assert "Push sign-in is blocked" in reply(refused) and len(phone.pushes) == 2  # nothing went out
    (report,) = await store.list_fraud_reports()
    assert report.source == "push" and report.username == "bob" and "deny streak" in report.note
    assert report.calling_station_id == "198.51.100.7"
    user = await store.get_user("bob")
    assert user is not None and user.state is UserState.ENABLED  # other factors still work
    assert await store.clear_push_streak("bob")
    phone.on_push = None

    async def approve(actions):
        await factors.decide(oob_id(actions[0][1]), Event.APPROVE, now=datetime.now(UTC))

    phone.on_push = approve
    assert (await pipe.handle(req(b"bob", b"pw"), now=datetime.now(UTC))).verdict is Verdict.ACCEPT


async def test_an_approval_clears_the_streak(env):
    make, phone, store = env
    pipe, factors = make(mode="oob", match=False, streak=2)
    answers = iter([Event.DENY, Event.APPROVE, Event.DENY, Event.DENY])

    async def answer(actions):
        await factors.decide(oob_id(actions[0][1]), next(answers), now=datetime.now(UTC))

    phone.on_push = answer
    verdicts = [(await pipe.handle(req(b"bob", b"pw"), now=datetime.now(UTC))).verdict for _ in range(3)]
    assert verdicts == [Verdict.REJECT, Verdict.ACCEPT, Verdict.REJECT]
    assert await store.push_streak("bob", now=datetime.now(UTC), window_s=3600, limit=2) == 1
    assert await store.list_fraud_reports() == []


async def test_a_matched_push_nobody_answers_counts_even_with_the_challenge_left_open(env):
    make, phone, store = env
    pipe, _ = make(mode="auto", oob_timeout_s=0.5)
    await shown_number(pipe)  # the challenge is never answered
    deadline = time.monotonic() + 30
    while await store.push_streak("bob", now=datetime.now(UTC), window_s=3600, limit=3) != 1:
        assert time.monotonic() < deadline, "the unanswered push was never counted"
        await asyncio.sleep(0.05)
