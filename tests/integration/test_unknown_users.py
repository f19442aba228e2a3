"""A name that is not in radmfa's store is audited `unknown user`, whichever
upstream checks the password: radclient → radmfa (real process) → the local
upstream or FreeRADIUS."""

from __future__ import annotations

import secrets
import time

import pytest

from tests.integration.harness import NAS_SECRET, Radmfa
from tests.integration.test_foundation import upstream_cfg

pytestmark = pytest.mark.integration


def reason_for(server: Radmfa, station: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [e for e in server.events() if e.get("event") == "auth" and e.get("calling_station_id") == station]
        if found:
            return str(found[-1]["reason"])
        time.sleep(0.05)
    raise AssertionError(f"no auth event for {station}; radmfa's log:\n{server.log_text()[-4000:]}")


def login(server: Radmfa, radclient, name: str, password: str) -> tuple[str | None, str]:
    station = f"st-{secrets.token_hex(4)}"
    reply = radclient(server.address, NAS_SECRET,
                      [{"User-Name": name, "User-Password": password, "Calling-Station-Id": station}], timeout=5)[0]
    return reply.code, reason_for(server, station)


@pytest.mark.parametrize("unknown_users", ["reject", "password-only"])
def test_local_upstream_says_unknown_user(radmfa_factory, radclient, unknown_users):
    server = radmfa_factory(mfa=f'unknown_users = "{unknown_users}"')  # [upstream] type = "local"
    server.add_users(("alice", "alice-pw", secrets.token_bytes(20)))
    with server:
        assert login(server, radclient, "zed", "alice-pw") == ("Access-Reject", "unknown user")
        assert login(server, radclient, "alice", "wrong") == ("Access-Reject", "wrong password")
        assert login(server, radclient, "alice", "alice-pw")[0] == "Access-Challenge"


def test_radius_upstream_says_unknown_user_whatever_the_password(radmfa_factory, freeradius_upstream, radclient):
    server = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), mfa='unknown_users = "reject"')
    server.add_users(("alice", None, secrets.token_bytes(20)))
    with server:
        assert login(server, radclient, "bob", "bob-pw") == ("Access-Reject", "unknown user")
        assert login(server, radclient, "bob", "wrong") == ("Access-Reject", "unknown user")
        assert login(server, radclient, "alice", "wrong") == ("Access-Reject", "upstream reject")
