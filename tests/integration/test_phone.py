"""End-to-end phone factors: radclient (NAS) → radmfa (process) → fake
Twilio / ntfy / SMTP sink over real HTTP and SMTP, and back through
radmfa's signed callbacks."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import CustomMessage, FraudReport, UserState
from radmfa.radius import crypto, wire
from tests.integration.harness import SILENCE_S, access_request
from tests.integration.phone_env import (  # noqa: F401  (peers is a fixture)
    NAS_SECRET,
    Background,
    add_user,
    cli,
    get_user,
    in_store,
    login,
    make_server,
    peers,
    wait_for,
)
from tests.integration.test_foundation import upstream_cfg
from tests.peers.rawnas import RawNas

pytestmark = pytest.mark.integration

MOBILE = "+14155550123"
OFFICE = "+14155550987"


def fraud_reports(server) -> list[FraudReport]:
    async def work(store: Store) -> list[FraudReport]:
        return await store.list_fraud_reports()

    return in_store(server, work)


@pytest.fixture
def phone(radmfa_factory, peers):  # noqa: F811
    server = make_server(radmfa_factory, peers)
    add_user(server, "alice", "alice-pw", mobile=MOBILE, office_phone=OFFICE, email="alice@example.com")
    return server


def test_menu_text_code_through_freeradius(radmfa_factory, peers, freeradius_upstream, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, upstream=upstream_cfg(freeradius_upstream.address))
    add_user(server, "alice", None, mobile=MOBILE)
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        assert first.code == "Access-Challenge"
        menu = first.get("Reply-Message")
        assert menu is not None and "1 = text to •••0123" in menu and "2 = call •••0123" in menu
        assert "3 = push" in menu and len(menu.encode()) <= 253
        assert first.get("Filter-Id") is None
        second = login(radclient, server, "alice", "1", state=first.get("State"))
        assert second.code == "Access-Challenge"
        assert "code we sent" in (second.get("Reply-Message") or "")
        assert len(peers.twilio.messages) == 1 and peers.twilio.messages[0]["To"] == MOBILE
        code = re.search(r"\d{6}", peers.twilio.messages[0]["Body"]).group(0)  # type: ignore[union-attr]
        done = login(radclient, server, "alice", code, state=second.get("State"))
        assert done.code == "Access-Accept"
        assert done.get("Filter-Id") == "vpn-users"  # the upstream's authorization
    assert code not in server.log_text()  # the code never reaches a log


def test_text_code_wrong_then_right_and_single_use(phone, peers, radclient):  # noqa: F811
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        second = login(radclient, phone, "alice", "1", state=first.get("State"))
        code = re.search(r"\d{6}", peers.twilio.messages[-1]["Body"]).group(0)  # type: ignore[union-attr]
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        third = login(radclient, phone, "alice", wrong, state=second.get("State"))
        assert third.code == "Access-Challenge" and "Wrong code" in (third.get("Reply-Message") or "")
        assert login(radclient, phone, "alice", code, state=third.get("State")).code == "Access-Accept"
        assert login(radclient, phone, "alice", code, state=third.get("State")).code == "Access-Reject"


def test_voice_pound_approves(phone, peers, radclient):  # noqa: F811
    peers.twilio.answer = "#"
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        done = login(radclient, phone, "alice", "2", state=first.get("State"))
        assert done.code == "Access-Accept"
    call = peers.twilio.calls[0]
    assert call.to == MOBILE and [s[1] for s in call.steps][:2] == [200, 200]
    assert "<Gather" in call.steps[0][2] and "press the pound key" in call.steps[0][2]
    assert "press zero, then pound to report fraud" in call.steps[0][2]
    assert fraud_reports(phone) == []


def test_voice_office_phone_and_silence_denies(phone, peers, radclient):  # noqa: F811
    peers.twilio.answer = "silence"
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        assert "3 = call •••0987" in (first.get("Reply-Message") or "")
        done = login(radclient, phone, "alice", "3", state=first.get("State"))
        assert done.code == "Access-Reject"
    assert peers.twilio.calls[0].to == OFFICE


def test_voice_fraud_code_rejects_reports_and_blocks(phone, peers, radclient):  # noqa: F811
    peers.twilio.answer = "0#"
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        done = login(radclient, phone, "alice", "2", state=first.get("State"))
        assert done.code == "Access-Reject"
        # blocked now: no further call, push or text to the phone
        assert login(radclient, phone, "alice", "alice-pw").code == "Access-Reject"
        assert login(radclient, phone, "alice", "alice-pw,push").code == "Access-Reject"
    assert len(peers.twilio.calls) == 1 and peers.ntfy.published == []
    reports = fraud_reports(phone)
    assert len(reports) == 1 and reports[0].source == "voice" and reports[0].phone == MOBILE
    assert reports[0].username == "alice" and reports[0].client_name == "localhost"
    user = get_user(phone, "alice")
    assert user is not None and user.state is UserState.BLOCKED


def test_hang_up_denies(phone, peers, radclient):  # noqa: F811
    peers.twilio.answer = "hangup"
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        assert login(radclient, phone, "alice", "2", state=first.get("State")).code == "Access-Reject"


def test_push_approve_answers_the_held_request_when_tapped(phone, peers, radclient):  # noqa: F811
    peers.ntfy.tap_label = "Approve"
    peers.ntfy.tap_delay_s = 1.0
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        held = Background(lambda: login(radclient, phone, "alice", "4", state=first.get("State")))
        assert held.result().code == "Access-Accept"
        # Woken by the tap (the store is polled every 0.2 s), not at the
        # 30 s timeout; the margin is for a busy machine, not a speed target.
        assert held.done_at - peers.ntfy.tapped_at[0] < 10.0
    message = peers.ntfy.published[0]
    # The topic has an unguessable per-user part (a reader of the topic can
    # tap Approve); the admin reads it off `radmfa user show` for the user.
    assert re.fullmatch(r"radmfa-alice-[a-z2-7]{16}", message["topic"])
    assert f"push:      {message['topic']} (enrolled)\n" in cli(phone, "user", "show", "alice")
    assert [a["label"] for a in message["actions"]] == ["Approve", "Deny", "Deny and report fraud"]
    assert peers.ntfy.taps == [("Approve", 200)]


def test_push_to_a_dotted_user_name_reaches_a_valid_ntfy_topic(phone, peers, radclient):  # noqa: F811
    """ntfy refuses topic names outside [-_A-Za-z0-9] (HTTP 400), and
    first.last is a common user name: its push must still go out."""
    add_user(phone, "john.smith", "john-pw")
    peers.ntfy.tap_label = "Approve"
    with phone:
        first = login(radclient, phone, "john.smith", "john-pw")
        assert "1 = push" in (first.get("Reply-Message") or "")
        assert login(radclient, phone, "john.smith", "1", state=first.get("State")).code == "Access-Accept"
    assert re.fullmatch(r"radmfa-john_smith-[a-z2-7]{16}", peers.ntfy.published[0]["topic"])


def test_push_deny_rejects_and_fraud_button_reports(phone, peers, radclient):  # noqa: F811
    peers.ntfy.tap_label = "Deny"
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        assert login(radclient, phone, "alice", "4", state=first.get("State")).code == "Access-Reject"
        assert fraud_reports(phone) == []
        peers.ntfy.tap_label = "Deny and report fraud"
        first = login(radclient, phone, "alice", "alice-pw")
        assert login(radclient, phone, "alice", "4", state=first.get("State")).code == "Access-Reject"
    reports = fraud_reports(phone)
    assert len(reports) == 1 and reports[0].source == "push" and reports[0].device == "radmfa-alice-…"


def test_no_answer_rejects_at_the_timeout_past_the_request_watchdog(radmfa_factory, peers, radclient):  # noqa: F811
    # request_timeout_s = 1 < oob_timeout_s = 4: the held request moves its own deadline.
    server = make_server(radmfa_factory, peers, oob_timeout_s=4,
                         radius_extra="reject_delay_s = 0\nrequest_timeout_s = 1")
    add_user(server, "alice", "alice-pw", mobile=MOBILE)
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        started = time.monotonic()
        done = login(radclient, server, "alice", "3", state=first.get("State"))
        elapsed = time.monotonic() - started
    # Not before the hold's timeout (the watchdog would answer after 1 s); a
    # busy machine may only make it later.
    assert done.code == "Access-Reject" and elapsed > 3.5
    assert "No answer" in (done.get("Reply-Message") or "")
    assert len(peers.ntfy.published) == 1
    assert "internal timeout" not in server.log_text()


def test_nas_retransmitting_a_held_request_pushes_once(radmfa_factory, peers):  # noqa: F811
    phone = make_server(radmfa_factory, peers)
    add_user(phone, "alice", "alice-pw", mobile=MOBILE)
    with phone, RawNas(("127.0.0.1", phone.port)) as nas:
        data, _ = access_request(1, [(wire.USER_NAME, b"alice")], password=b"alice-pw")
        challenge = nas.exchange(data)
        assert challenge is not None and challenge[0] == wire.ACCESS_CHALLENGE, phone.log_text()
        state = wire.parse(challenge).get(wire.STATE)
        assert state is not None
        answer, _ = access_request(2, [(wire.USER_NAME, b"alice"), (wire.STATE, state)], password=b"3")
        nas.send(answer)
        message = wait_for(lambda: peers.ntfy.published and peers.ntfy.published[0], server=phone)
        for _ in range(5):  # the NAS's retransmissions while the push is out: same Id and authenticator
            nas.send(answer)
        # One socket, read in order: this reply means radmfa has seen every copy.
        probe = crypto.sign_request(wire.STATUS_SERVER, 200, crypto.new_authenticator(), b"", NAS_SECRET.encode())
        seen = nas.exchange(probe)
        assert seen is not None and seen[1] == 200, phone.log_text()
        assert peers.ntfy.tap_now(message, "Approve") == 200
        accepted = nas.receive()
        assert accepted is not None and accepted[:2] == bytes([wire.ACCESS_ACCEPT, 2]), phone.log_text()
        assert nas.receive(SILENCE_S) is None  # one answer for six copies
    assert len(peers.ntfy.published) == 1
    assert sum(1 for e in phone.events() if e.get("event") == "out-of-band answer") == 1


def test_a_second_request_while_held_joins_the_same_call(phone, peers, radclient):  # noqa: F811
    with phone:
        a = login(radclient, phone, "alice", "alice-pw")
        b = login(radclient, phone, "alice", "alice-pw")
        older = Background(lambda: login(radclient, phone, "alice", "2", state=a.get("State")))
        wait_for(lambda: peers.twilio.calls)
        newer = Background(lambda: login(radclient, phone, "alice", "2", state=b.get("State")))
        # The newer attempt joins the call and the older one is answered at
        # once: once it is, the call has its one waiter left.
        assert older.result().code == "Access-Reject"  # superseded by the newer attempt
        peers.twilio.run(peers.twilio.play(peers.twilio.calls[0], "#"))
        assert newer.result().code == "Access-Accept"
    assert len(peers.twilio.calls) == 1


def test_bad_or_replayed_callbacks_get_403_and_change_nothing(phone, peers, radclient):  # noqa: F811
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        held = Background(lambda: login(radclient, phone, "alice", "2", state=first.get("State")))
        call = wait_for(lambda: peers.twilio.calls and peers.twilio.calls[0])
        form = {"AccountSid": "AC" + "0" * 32, "CallSid": call.sid, "CallStatus": "in-progress"}
        assert peers.twilio.replay(call.url, form, sign_with="not-the-auth-token") == 403
        tampered = call.url.replace("/answer?t=", "/gather?t=")
        assert peers.twilio.replay(tampered, {**form, "Digits": ""}) == 403  # token is for "answer"
        forged_status = call.status_callback[: -4] + "AAAA"
        assert peers.twilio.replay(forged_status, {**form, "CallStatus": "completed"}) == 403
        peers.twilio.run(peers.twilio.play(call, "#"))
        assert held.result().code == "Access-Accept"
        gather_url = next(url for url, _, _ in call.steps if "/gather" in url)
        assert peers.twilio.replay(gather_url, {**form, "Digits": "0"}) == 403  # replay: already decided
    assert fraud_reports(phone) == []
    user = get_user(phone, "alice")
    assert user is not None and user.state is UserState.ENABLED


def test_push_token_is_single_use(phone, peers, radclient):  # noqa: F811
    peers.ntfy.tap_label = "Approve"
    with phone:
        first = login(radclient, phone, "alice", "alice-pw")
        assert login(radclient, phone, "alice", "4", state=first.get("State")).code == "Access-Accept"
        message = peers.ntfy.published[0]
        assert peers.ntfy.tap_now(message, "Approve") == 403
        assert peers.ntfy.tap_now(message, "Deny and report fraud") == 403
    assert fraud_reports(phone) == []


def test_oob_client_without_password_and_primary_none(radmfa_factory, peers, radclient):  # noqa: F811
    clients = '\n[clients.localhost]\nmode = "oob"\nprimary = "none"\n'
    server = make_server(radmfa_factory, peers, clients=clients)
    add_user(server, "bob", None, mobile=MOBILE, default_method="push")
    peers.ntfy.tap_label = "Approve"
    with server:
        assert login(radclient, server, "bob", None).code == "Access-Accept"
        assert login(radclient, server, "nobody", None).code == "Access-Reject"  # unknown: never password-only
    assert len(peers.ntfy.published) == 1 and peers.twilio.calls == []


def test_oob_client_calls_the_default_method_after_the_password(radmfa_factory, peers, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, clients='\n[clients.localhost]\nmode = "oob"\n')
    add_user(server, "carol", "carol-pw", mobile=MOBILE, default_method="voice")
    peers.twilio.answer = "#"
    with server:
        assert login(radclient, server, "carol", "wrong").code == "Access-Reject"
        assert peers.twilio.calls == []
        assert login(radclient, server, "carol", "carol-pw").code == "Access-Accept"
    assert len(peers.twilio.calls) == 1


def test_auto_mode_inline_keywords(radmfa_factory, peers, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, clients='\n[clients.localhost]\nmode = "auto"\n')
    add_user(server, "dave", "dave-pw", mobile=MOBILE)
    peers.ntfy.tap_label = "Approve"
    with server:
        assert login(radclient, server, "dave", "dave-pw,push").code == "Access-Accept"
        texted = login(radclient, server, "dave", "dave-pw,sms")
        assert texted.code == "Access-Challenge" and len(peers.twilio.messages) == 1
        assert login(radclient, server, "dave", "dave-pw").code == "Access-Challenge"  # the menu
        assert login(radclient, server, "dave", "wrong-pw,push").code == "Access-Reject"
    assert len(peers.ntfy.published) == 1


def test_email_code_through_the_smtp_sink(radmfa_factory, peers, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers)
    add_user(server, "erin", "erin-pw", email="erin@example.com")
    with server:
        first = login(radclient, server, "erin", "erin-pw")
        assert "2 = e-mail to e•••@example.com" in (first.get("Reply-Message") or "")  # 1 = push
        second = login(radclient, server, "erin", "2", state=first.get("State"))
        assert second.code == "Access-Challenge"
        mail = wait_for(lambda: peers.smtp.messages and peers.smtp.messages[0])
        assert mail["To"] == "erin@example.com" and mail["From"] == "mfa@example.com"
        code = re.search(r"\d{6}", mail.get_payload()).group(0)  # type: ignore[union-attr, arg-type]
        assert login(radclient, server, "erin", code, state=second.get("State")).code == "Access-Accept"


def test_healthz(phone):
    url = f"http://127.0.0.1:{phone.http_port}/healthz"
    with phone, urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
        assert resp.status == 200 and resp.read() == b"ok\n"


def test_limits_trip_with_a_clear_message(radmfa_factory, peers, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, extra_toml="[limits]\nsms_per_user = 2\npush_per_hour = 1\n")
    add_user(server, "alice", "alice-pw", mobile=MOBILE)
    peers.ntfy.tap_label = "Deny"
    with server:
        for _ in range(2):
            first = login(radclient, server, "alice", "alice-pw")
            assert login(radclient, server, "alice", "1", state=first.get("State")).code == "Access-Challenge"
        first = login(radclient, server, "alice", "alice-pw")
        refused = login(radclient, server, "alice", "1", state=first.get("State"))
        assert refused.code == "Access-Reject" and "Too many codes sent" in (refused.get("Reply-Message") or "")
        first = login(radclient, server, "alice", "alice-pw")
        assert login(radclient, server, "alice", "3", state=first.get("State")).code == "Access-Reject"  # denied
        first = login(radclient, server, "alice", "alice-pw")
        capped = login(radclient, server, "alice", "3", state=first.get("State"))
        assert capped.code == "Access-Reject" and "right now" in (capped.get("Reply-Message") or "")
    assert len(peers.twilio.messages) == 2 and len(peers.ntfy.published) == 1
    reasons = [e.get("reason") for e in server.events() if e.get("event") == "auth"]
    assert "rate-limited:user" in reasons and "rate-limited:global" in reasons


def test_custom_messages_per_language_and_client(radmfa_factory, peers, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, clients='\n[clients.localhost]\napp_name = "Corp VPN"\n')
    add_user(server, "alice", "alice-pw", mobile=MOBILE, language="de-CH")

    async def work(store: Store) -> None:
        await store.add_message(CustomMessage("sms", "de", "", text="Ihr {app}-Code: {code}"))
        await store.add_message(CustomMessage("voice_greeting", "", "localhost", audio=b"RIFF" + bytes(40),
                                              audio_type="audio/wav", audio_size=44))

    in_store(server, work)
    peers.twilio.answer = "#"
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        login(radclient, server, "alice", "1", state=first.get("State"))
        assert re.fullmatch(r"Ihr Corp VPN-Code: \d{6}", peers.twilio.messages[0]["Body"])
        first = login(radclient, server, "alice", "alice-pw")
        assert login(radclient, server, "alice", "2", state=first.get("State")).code == "Access-Accept"
        twiml = peers.twilio.calls[0].steps[0][2]
        play = re.search(r"<Play>([^<]+)</Play>", twiml)
        assert play is not None and "sign-in verification call" not in twiml
        with urllib.request.urlopen(play.group(1), timeout=5) as resp:  # noqa: S310 - our own test server
            assert resp.headers["Content-Type"] == "audio/wav" and resp.read().startswith(b"RIFF")
        # Only with the call's token for that path: recording ids cannot be walked from outside.
        url, _, token = play.group(1).partition("?t=")
        base, _, rid = url.rpartition("/")
        for probe in (url, f"{base}/{int(rid) + 1}?t={token}", f"{url}?t={token}x"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(probe, timeout=5)  # noqa: S310 - our own test server
            refused.value.close()
            assert refused.value.code == 403
