"""End-to-end: radclient as the NAS, radmfa, and a FreeRADIUS upstream that
runs its own challenge flow (unlang in its site, tests/peers/challenging_freeradius.py).
The upstream's challenges are relayed under radmfa's State, then radmfa's
TOTP is asked; per client, "reject" refuses them and "relay-only" lets the
upstream's challenge be the second factor."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pyotp
import pytest

from tests.integration.harness import NAS_SECRET
from tests.integration.test_foundation import upstream_cfg
from tests.peers.challenging_freeradius import ChallengeFlow, ChallengingFreeRadius, flow_state
from tests.peers.fixtures import UPSTREAM_SECRET, require_freeradius

pytestmark = pytest.mark.integration

SEED = bytes(range(20))
FLOWS = {
    "carol": ChallengeFlow("carol-pw", [("Enter the next tokencode", "424242")], {"Filter-Id": "securid-users"}),
    "dave": ChallengeFlow("dave-pw", [("Enter the next tokencode", "111111"), ("Choose a new PIN", "2468")],
                          {"Filter-Id": "new-pin-users"}),
}


@pytest.fixture(scope="module")
def challenging_upstream() -> Iterator[ChallengingFreeRadius]:
    server = ChallengingFreeRadius(secret=UPSTREAM_SECRET, flows=FLOWS, binary=require_freeradius())
    with server:
        yield server


def totp_now() -> str:
    return pyotp.TOTP(base64.b32encode(SEED).decode()).at(time.time())


def start(radmfa_factory, upstream: ChallengingFreeRadius, policy: str | None = None):
    extra = "" if policy is None else f'\n[clients.localhost]\nupstream_challenge = "{policy}"\n'
    server = radmfa_factory(upstream=upstream_cfg(upstream.address), extra=extra)
    server.add_users(("carol", None, SEED), ("dave", None, SEED))
    return server.start()


def send(radclient, server, user: str, password: str, state: str | None = None):
    packet = {"User-Name": user, "User-Password": password}
    if state is not None:
        packet["State"] = state
    return radclient(server.address, NAS_SECRET, [packet])[0]


def test_upstream_challenge_relayed_then_radmfa_totp(radmfa_factory, radclient, challenging_upstream):
    server = start(radmfa_factory, challenging_upstream)
    relayed = send(radclient, server, "carol", "carol-pw")
    assert relayed.code == "Access-Challenge", server.log_text()[-4000:]
    assert relayed.get("Reply-Message") == "Enter the next tokencode"
    ours = relayed.get("State")
    assert ours is not None and ours != flow_state("carol", 0)  # the NAS sees radmfa's State only
    totp = send(radclient, server, "carol", "424242", ours)
    assert totp.code == "Access-Challenge" and totp.get("State") != ours
    accepted = send(radclient, server, "carol", totp_now(), totp.get("State"))
    assert accepted.code == "Access-Accept"
    assert accepted.get("Filter-Id") == "securid-users"  # the upstream's final Accept's attributes
    # radmfa's State is single use: the same answer again is refused.
    assert send(radclient, server, "carol", "424242", ours).code == "Access-Reject"
    assert "424242" not in server.log_text()


def test_wrong_answer_to_the_upstream_is_rejected(radmfa_factory, radclient, challenging_upstream):
    server = start(radmfa_factory, challenging_upstream)
    relayed = send(radclient, server, "carol", "carol-pw")
    assert relayed.code == "Access-Challenge"
    assert send(radclient, server, "carol", "999999", relayed.get("State")).code == "Access-Reject"
    reasons = [e.get("reason") for e in server.events() if e.get("user") == "carol"]
    assert "upstream challenge relayed" in reasons and "upstream reject" in reasons, reasons


def test_reject_policy_refuses_upstream_challenges(radmfa_factory, radclient, challenging_upstream):
    server = start(radmfa_factory, challenging_upstream, "reject")
    refused = send(radclient, server, "carol", "carol-pw")
    assert refused.code == "Access-Reject"
    assert refused.get("Reply-Message") == "Enter the next tokencode"
    assert refused.get("State") is None


def test_relay_only_two_upstream_challenges_are_the_second_factor(radmfa_factory, radclient, challenging_upstream):
    server = start(radmfa_factory, challenging_upstream, "relay-only")
    first = send(radclient, server, "dave", "dave-pw")
    assert first.code == "Access-Challenge" and first.get("Reply-Message") == "Enter the next tokencode"
    second = send(radclient, server, "dave", "111111", first.get("State"))
    assert second.code == "Access-Challenge" and second.get("Reply-Message") == "Choose a new PIN"
    done = send(radclient, server, "dave", "2468", second.get("State"))
    assert done.code == "Access-Accept" and done.get("Filter-Id") == "new-pin-users"
