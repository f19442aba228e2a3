"""Local passwords under a wrong-password flood, end to end: radmfa with
``[upstream] type = "local"``, radclient as the flooding NAS, a second NAS
(another source address) logging in meanwhile.

What is asserted are outcomes and counts, never timings: every quiet login
is accepted, every flood request is rejected, and the counters radmfa logs
when it stops show that the budgets refused all but the first few flood
attempts before any argon2 work.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest

from radmfa.radius import crypto, wire
from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, Radmfa, access_request
from tests.peers.rawnas import RawNas

pytestmark = pytest.mark.integration

CLIENTS = (
    f'client flood {{\n  ipaddr = 127.0.0.1\n  secret = "{NAS_SECRET}"\n}}\n'
    f'client quiet {{\n  ipaddr = 127.0.0.2\n  secret = "{NAS_SECRET}"\n}}\n'
)
FLOOD = 60
QUIET_LOGINS = 10
USERS = (("alice", "alice-pw", None), ("bob", "bob-pw", None))
CLIENT_BUDGET_SPENT = "password attempts: client budget spent"
USER_BUDGET_SPENT = "password attempts: user budget spent"


def make(radmfa_factory, passwords: str, mfa: str = "") -> Radmfa:
    server = radmfa_factory(
        clients=CLIENTS,
        mfa=f'new_user = "allow"\n{mfa}',  # no second factor here: the password decides
        extra=f"[passwords]\nwindow_s = 3600\nthreads = 1\nqueue = 256\n{passwords}\n",
    )
    server.add_users(*USERS)
    return server


def quiet_login(nas: RawNas, ident: int, user: bytes, password: bytes) -> int:
    packet, ra = access_request(ident, [(wire.USER_NAME, user)], password=password)
    reply = nas.exchange(packet)
    assert reply is not None
    assert crypto.verify_response(reply, ra, NAS_SECRET.encode(), 22)  # Message-Authenticator first
    return reply[0]


def flood_in_background(radclient, server: Radmfa, user: str) -> tuple[threading.Thread, list]:
    wrong = [{"User-Name": user, "User-Password": f"guess-{i}"} for i in range(FLOOD)]
    replies: list = []
    thread = threading.Thread(
        target=lambda: replies.extend(radclient(server.address, NAS_SECRET, wrong, timeout=REPLY_WAIT_S, parallel=16))
    )
    thread.start()
    return thread, replies


def stopped_counts(server: Radmfa) -> dict[str, int]:
    server.stop()
    stopped = [e for e in server.events() if e.get("event") == "stopped"]
    assert stopped, server.log_text()
    counts = stopped[-1]["hash_checks"]
    assert isinstance(counts, dict)
    return counts


def auth_reasons(server: Radmfa, user: str) -> list[str]:
    return [str(e.get("reason")) for e in server.events() if e.get("event") == "auth" and e.get("user") == user]


def test_a_flooding_nas_spends_its_own_budget_and_a_quiet_nas_logs_in(radmfa_factory, radclient):
    server = make(radmfa_factory, "client_attempts = 5\nuser_attempts = 0")
    with server, RawNas(("127.0.0.1", server.port), bind=("127.0.0.2", 0), timeout=REPLY_WAIT_S) as nas:
        flood, replies = flood_in_background(radclient, server, "bob")
        try:
            codes = [quiet_login(nas, i, b"alice", b"alice-pw") for i in range(QUIET_LOGINS)]
        finally:
            flood.join(REPLY_WAIT_S * 4)
        assert codes == [wire.ACCESS_ACCEPT] * QUIET_LOGINS, server.log_text()
        assert [r.code for r in replies] == ["Access-Reject"] * FLOOD, server.log_text()
        counts = stopped_counts(server)
    # Five flood attempts were hashed (and wrong); the other 55 were refused before argon2.
    assert counts["wrong"] == 5 and counts["refused_client_budget"] == FLOOD - 5, counts
    assert counts["right"] == QUIET_LOGINS and counts["hashed"] == 5 + QUIET_LOGINS, counts
    assert "refused_busy" not in counts
    reasons = auth_reasons(server, "bob")
    assert reasons.count(CLIENT_BUDGET_SPENT) == FLOOD - 5 and reasons.count("wrong password") == 5, reasons
    assert "guess-" not in server.log_text()


def test_a_flood_against_one_user_spends_that_user_budget_only(radmfa_factory, radclient):
    server = make(radmfa_factory, "client_attempts = 0\nuser_attempts = 3")
    with server, RawNas(("127.0.0.1", server.port), bind=("127.0.0.2", 0), timeout=REPLY_WAIT_S) as nas:
        flood, replies = flood_in_background(radclient, server, "alice")
        try:
            bob = [quiet_login(nas, i, b"bob", b"bob-pw") for i in range(QUIET_LOGINS)]
        finally:
            flood.join(REPLY_WAIT_S * 4)
        assert bob == [wire.ACCESS_ACCEPT] * QUIET_LOGINS, server.log_text()
        assert [r.code for r in replies] == ["Access-Reject"] * FLOOD, server.log_text()
        # alice's budget is spent: her right password is refused too, without hashing, until the window ends.
        assert quiet_login(nas, 200, b"alice", b"alice-pw") == wire.ACCESS_REJECT
        counts = stopped_counts(server)
    assert counts["wrong"] == 3 and counts["refused_user_budget"] == FLOOD - 3 + 1, counts
    assert counts["right"] == QUIET_LOGINS and counts["hashed"] == 3 + QUIET_LOGINS, counts
    assert auth_reasons(server, "alice").count(USER_BUDGET_SPENT) == FLOOD - 3 + 1


def cli(server: Radmfa, *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "radmfa", *args, "--config", str(server.config_path)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored_hash(server: Radmfa, sql: str) -> str:
    db = sqlite3.connect(server.tmp / "radmfa.db")
    try:
        return str(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def test_a_changed_cost_is_applied_to_a_local_password_at_its_next_right_login(radmfa_factory, radclient):
    server = make(radmfa_factory, "time_cost = 3")  # the users were hashed with the default, 2 passes
    before = stored_hash(server, "SELECT password_hash FROM users WHERE name = 'alice'")
    assert "t=2," in before
    with server:
        wrong = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "nope"}])
        assert wrong[0].code == "Access-Reject"
        assert stored_hash(server, "SELECT password_hash FROM users WHERE name = 'alice'") == before
        right = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}] * 2)
        assert [r.code for r in right] == ["Access-Accept"] * 2, server.log_text()
        after = stored_hash(server, "SELECT password_hash FROM users WHERE name = 'alice'")
        counts = stopped_counts(server)
    assert "t=3," in after and after != before
    assert counts["rehashed"] == 1 and counts["right"] == 2 and counts["wrong"] == 1, counts


def test_app_password_guesses_spend_the_same_client_budget(radmfa_factory, radclient):
    server = make(radmfa_factory, "client_attempts = 4\nuser_attempts = 0", mfa="app_passwords = true")
    password = cli(server, "apppass", "create", "alice", "--name", "Mail").splitlines()[-1].strip()
    # Same lookup prefix (the row is found), wrong secret part: an argon2 check each, until the budget is spent.
    guesses = [password[:6] + ("ABCDE" if password[6:11] != "ABCDE" else "FGHIJ") + password[11:]] * 20
    with server, RawNas(("127.0.0.1", server.port), bind=("127.0.0.2", 0), timeout=REPLY_WAIT_S) as nas:
        replies = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": g} for g in guesses],
                            parallel=8)
        assert [r.code for r in replies] == ["Access-Reject"] * 20, server.log_text()
        assert quiet_login(nas, 1, b"alice", password.encode()) == wire.ACCESS_ACCEPT
        counts = stopped_counts(server)
    assert counts["wrong"] == 4 and counts["refused_client_budget"] == 16 and counts["right"] == 1, counts
    reasons = auth_reasons(server, "alice")
    assert reasons.count(f"app-password refused, {CLIENT_BUDGET_SPENT}") == 16, reasons
    assert password not in server.log_text()
