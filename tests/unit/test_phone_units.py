"""Pure parts of the phone factors: signatures, tokens, menu, TwiML, texts,
and the out-of-band rows of the session table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core import methods, session, texts
from radmfa.core.methods import Option
from radmfa.core.model import Phase, User
from radmfa.core.session import TRANSITIONS, Event, InvalidTransition, oob_target
from radmfa.delivery.twilio import twilio_signature, valid_signature
from radmfa.factors import callbacks, voice
from tests.fakes.twilio import gathered

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_twilio_signature_documented_example():
    # Twilio's own example (docs "Validating requests"): auth token 12345.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_signature("12345", url, {**params, "Digits": "0"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_signature("12345", url + "&x=1", params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_signature("54321", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_callback_tokens_bind_session_action_key_and_time():
    key = b"k" * 32
    token = callbacks.sign(key, "s1", "approve", expires_at=NOW + timedelta(seconds=60))
    assert callbacks.verify(key, token, "s1", "approve", now=NOW)
    assert not callbacks.verify(key, token, "s1", "deny", now=NOW)
    assert not callbacks.verify(key, token, "s2", "approve", now=NOW)
    assert not callbacks.verify(b"x" * 32, token, "s1", "approve", now=NOW)
    assert not callbacks.verify(key, token, "s1", "approve", now=NOW + timedelta(seconds=62))
    assert not callbacks.verify(key, "garbage", "s1", "approve", now=NOW)
    expires, _, mac = token.partition(".")
    assert not callbacks.verify(key, f"{int(expires) + 1000}.{mac}", "s1", "approve", now=NOW)
    assert callbacks.url("https://m.example", "/cb/push/s1/approve", token).endswith(f"?t={token}")


def test_code_hash_is_keyed():
    assert callbacks.code_hash(b"a" * 32, b"sent", "123456") != callbacks.code_hash(b"b" * 32, b"sent", "123456")
    assert callbacks.code_hash(b"a" * 32, b"sent", "123456") != callbacks.code_hash(b"a" * 32, b"sent", "123457")


ALICE = User(
    1, "alice", email="alice@example.com", mobile="+14155550123", office_phone="+14155550987", push_enrolled=True
)


def test_options_order_and_masks():
    got = methods.options(ALICE, methods=frozenset(("sms", "voice", "push", "email")), push_topic="t")
    assert [(o.method, o.shown) for o in got] == [
        ("sms", "•••0123"),
        ("voice", "•••0123"),
        ("voice", "•••0987"),
        ("push", ""),
        ("email", "a•••@example.com"),
    ]
    assert methods.options(ALICE, methods=frozenset(("voice",)), push_topic="")[0].destination == ALICE.mobile


def test_push_only_once_enrolled():
    """A push provider alone does not make push a factor of every user."""
    everyone = frozenset(("push",))
    assert methods.options(replace(ALICE, push_enrolled=False), methods=everyone, push_topic="t") == []
    assert [o.method for o in methods.options(ALICE, methods=everyone, push_topic="t")] == ["push"]
    assert methods.options(User(2, "bob"), methods=frozenset(("sms", "voice", "email")), push_topic="") == []


def test_menu_fits_one_reply_message_and_keeps_keys_in_order():
    opts = [Option("sms", "+1", "•••0123"), Option("voice", "+1", "•••0123"), Option("push", "t", "")]
    text, keys = methods.menu(opts, lambda o: f"{o.method} {o.shown}", lambda s: f"Enter your code, or {s}")
    assert text == "Enter your code, or 1 = sms •••0123, 2 = voice •••0123, 3 = push "
    assert [o.method for o in keys.values()] == ["sms", "voice", "push"] and list(keys) == ["1", "2", "3"]
    long = [Option("sms", "+1", "x" * 100)] * 4
    text, keys = methods.menu(long, lambda o: o.shown, lambda s: "Pick: " + s)
    assert len(text.encode()) <= 253 and list(keys) == ["1", "2"]


def test_inline_keywords_and_default_out_of_band():
    assert methods.split_keyword(b"pw,with,commas,push", b",") == (b"pw,with,commas", "push")
    assert methods.split_keyword(b"pw,CALL", b",") == (b"pw", "voice")
    assert methods.split_keyword(b"pw,123456", b",") is None
    assert methods.split_keyword(b"pw", b",") is None
    opts = methods.options(ALICE, methods=frozenset(("sms", "voice", "push")), push_topic="t")
    assert methods.default_oob(ALICE, opts) == opts[1]  # first call or push
    pushy = User(1, "alice", mobile="+14155550123", default_method="push")
    assert methods.default_oob(pushy, opts).method == "push"  # type: ignore[union-attr]
    assert methods.default_oob(ALICE, opts[:1]) is None  # a text cannot be held for


def test_voice_keys_and_twiml():
    assert voice.verdict("#", "0#") == "approve"
    assert voice.verdict("0#", "0#") == "fraud"
    assert voice.verdict("0", "0#") == "deny" and voice.verdict("1", "0#") == "deny"
    assert voice.verdict("", "0#") == "deny"  # never sent by Twilio; must not approve
    parts = [("Hi <there> & co", False), ("https://m/voice/7", True), ("Press #", False)]
    twiml = voice.prompt(parts, gather_url="https://m/cb?a=1&t=x", silence_url="https://m/s?t=y", fraud_code="12#")
    root = ET.fromstring(twiml)  # noqa: S314 - our own output
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["action"] == "https://m/cb?a=1&t=x"
    assert gather.attrib["finishOnKey"] == "" and gather.attrib["numDigits"] == "3"
    # What Twilio posts for the keys pressed, by its <Gather> rules: "#" must
    # reach the action (a finishOnKey "#" alone would fall through, like silence).
    said = {keys: gathered(gather.attrib, keys) for keys in ("#", "12#", "1", "")}
    assert said == {"#": "#", "12#": "12#", "1": "1", "": None}
    assert [voice.verdict(d, "12#") for d in ("#", "12#", "1")] == ["approve", "fraud", "deny"]
    assert [(s.tag, s.text) for s in gather] == [("Say", "Hi <there> & co"), ("Play", "https://m/voice/7"),
                                                  ("Say", "Press #")]
    assert root.find("Redirect").text == "https://m/s?t=y"  # type: ignore[union-attr]


async def test_own_texts_render_placeholders_plainly():
    store = None  # the texts kept here never touch the store (custom ones do: tests/unit/test_messages.py)
    text = await texts.render(store, "sms_two_way", language=None, client="vpn", app="Corp VPN",  # type: ignore[arg-type]
                              values={"code": "123456"})
    assert text == "Reply 123456 to this message to sign in to Corp VPN."
    odd = await texts.render(store, "menu_sms", language="de", client="x", app="{code}",  # type: ignore[arg-type]
                             values={"to": "{0.__class__}"})
    assert odd == "text to {0.__class__}"


def test_out_of_band_rows_of_the_session_table():
    expected = {Event.APPROVE: Phase.APPROVED, Event.DENY: Phase.DENIED, Event.REPORT_FRAUD: Phase.DENIED,
                Event.TIMEOUT: Phase.EXPIRED}
    rows = {e: t for (p, e), t in TRANSITIONS.items() if p is Phase.AWAITING_APPROVAL}
    assert rows == {e: (t,) for e, t in expected.items()}
    for event, target in expected.items():
        assert oob_target(Phase.AWAITING_APPROVAL, event) is target
        for phase in session.TERMINAL | {Phase.AWAITING_CODE}:
            with pytest.raises(InvalidTransition):
                oob_target(phase, event)
    for event in (Event.CODE_OK, Event.CODE_WRONG):
        with pytest.raises(InvalidTransition):
            oob_target(Phase.AWAITING_APPROVAL, event)


async def test_console_provider_prints_codes_only_when_asked(capsys):
    from radmfa.config import ProviderConfig
    from radmfa.delivery.console import ConsoleSender

    await ConsoleSender(ProviderConfig("lab", "console")).send_sms("+14155550123", "Your vpn code is 123456")
    assert "123456" not in capsys.readouterr().out
    await ConsoleSender(ProviderConfig("lab", "console", show_codes=True)).send_sms("+14155550123", "code 654321")
    assert "654321" in capsys.readouterr().out


def test_push_topics_hold_an_unguessable_per_user_secret():
    key, other = b"k" * 32, b"o" * 32
    alice = callbacks.push_topic("radmfa-{user}-{secret}", "alice", key, ntfy=True)
    assert alice.startswith("radmfa-alice-") and len(alice) == len("radmfa-alice-") + 16
    assert alice == callbacks.push_topic("radmfa-{user}-{secret}", "alice", key, ntfy=True)  # stable
    assert alice != callbacks.push_topic("radmfa-{user}-{secret}", "alice", other, ntfy=True)  # keyed
    assert alice[-16:] != callbacks.push_topic("radmfa-{user}-{secret}", "bob", key, ntfy=True)[-16:]
    # shown (menus, audit rows, fraud reports) without the secret
    assert callbacks.push_topic("radmfa-{user}-{secret}", "alice", None, ntfy=True) == "radmfa-alice-…"
    # ntfy allows [-_A-Za-z0-9] only; names that map alike still get their own topics
    dotted = callbacks.push_topic("radmfa-{user}-{secret}", "j.smith", key, ntfy=True)
    underscored = callbacks.push_topic("radmfa-{user}-{secret}", "j_smith", key, ntfy=True)
    assert dotted.startswith("radmfa-j_smith-") and dotted != underscored
    assert callbacks.push_topic("{user}", "j.smith", key, ntfy=False) == "j.smith"  # a webhook gets it as is
