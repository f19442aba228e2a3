"""End-to-end: an imported hardware HOTP token logs in through radclient, drifts, and is resynced."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from radmfa.factors.totp import hotp
from tests.integration.harness import NAS_SECRET

pytestmark = pytest.mark.integration

PSKC = Path(__file__).parents[1] / "unit" / "pskc"
SECRET = b"12345678901234567890"  # RFC 6030 Figure 7's seed (RFC 4226 Appendix D)


def cli(server, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "radmfa", *argv, "--config", str(server.config_path)],
        input=stdin, capture_output=True, text=True, timeout=60,
    )


def code(counter: int) -> str:
    return hotp(SECRET, counter, digits=8).decode()


def test_imported_hotp_token_logs_in_and_resyncs(radmfa_factory, radclient, tmp_path):
    server = radmfa_factory()
    server.add_users(("alice", "alice-pw", None))
    pskc = shutil.copy(PSKC / "rfc6030-figure7.xml", tmp_path / "vendor.pskc")
    r = cli(server, "token", "import", str(pskc), "--password", "-", stdin="qwerty\n")
    assert r.returncode == 0, r.stderr
    assert cli(server, "token", "assign", "987654321", "alice").returncode == 0
    with server:
        first = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        assert first.code == "Access-Challenge"
        ok = radclient(server.address, NAS_SECRET,
                       [{"User-Name": "alice", "User-Password": code(0), "State": first.get("State")}])[0]
        assert ok.code == "Access-Accept"
        # Inline, a few presses ahead: inside the look-ahead window of 10.
        inline = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": f"alice-pw,{code(4)}"}])
        assert inline[0].code == "Access-Accept"
        # The token was pressed 50 times away from the server: too far ahead.
        drifted = radclient(server.address, NAS_SECRET,
                            [{"User-Name": "alice", "User-Password": f"alice-pw,{code(60)}"}])[0]
        assert drifted.code == "Access-Reject"
        r = cli(server, "token", "resync", "987654321", code(61), code(62))
        assert r.returncode == 0, r.stderr
        again = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": f"alice-pw,{code(63)}"}])
        assert again[0].code == "Access-Accept"
        server.wait_for_event("auth", count=3, result="accept", user="alice")  # the last login is in the log
    log = server.log_text()
    assert "qwerty" not in log and code(63) not in log
