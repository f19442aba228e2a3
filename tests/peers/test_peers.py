"""The harness itself works against the real peers: FreeRADIUS, radclient, raw UDP."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.peers.fixtures import (
    ALICE,
    UPSTREAM_SECRET,
    FreeRadiusFactory,
    Radclient,
    require_binary,
)
from tests.peers.freeradius import FreeRadius, FreeRadiusError, FreeRadiusUser, render_user
from tests.peers.ports import free_udp_port, free_udp_ports
from tests.peers.radclient import parse_output, render_packets, unquote
from tests.peers.rawnas import RawNas

REPO = Path(__file__).resolve().parents[2]


def alice(password: str = ALICE.password or "") -> dict[str, str]:
    return {"User-Name": "alice", "User-Password": password}


def status_server_packet(secret: str, ident: int) -> bytes:
    # RFC 5997 §6 layout: header, then Message-Authenticator over the whole packet.
    unsigned = bytes([12, ident, 0, 38]) + os.urandom(16) + bytes([80, 18]) + bytes(16)
    return unsigned[:-16] + hmac.new(secret.encode(), unsigned, hashlib.md5).digest()


# -- pure parts: no peer needed ---------------------------------------------------


def test_free_udp_ports_are_distinct_and_bindable() -> None:
    ports = free_udp_ports(5)
    assert len(set(ports)) == 5
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", free_udp_port()))


def test_users_file_entry_quotes_values_and_adds_multi_valued_lines() -> None:
    user = FreeRadiusUser("bob smith", 'p"w', reply={"Filter-Id": "x"},
                          reply_lines=[("Reply-Message", "a"), ("Reply-Message", "b")])
    assert render_user(user) == (
        '"bob smith" Cleartext-Password := "p\\"w"\n'
        '\tFilter-Id := "x",\n\tReply-Message += "a",\n\tReply-Message += "b"\n'
    )


def test_packets_file_adds_message_authenticator_unless_told_not_to() -> None:
    text = render_packets([alice(), [("User-Name", "b\\c")]], message_authenticator=True)
    assert text == (
        'User-Name = "alice"\nUser-Password = "alice-pw"\nMessage-Authenticator = "0x00"\n'
        '\nUser-Name = "b\\\\c"\nMessage-Authenticator = "0x00"\n'
    )
    assert "Message-Authenticator" not in render_packets([alice()], message_authenticator=False)


def test_parser_pairs_replies_by_id_through_retransmissions_and_losses() -> None:
    output = textwrap.dedent("""\
        Sent Access-Request Id 7 from 0.0.0.0:1 to 127.0.0.1:2 length 20
        \tUser-Name = "a"
        Sent Access-Request Id 7 from 0.0.0.0:1 to 127.0.0.1:2 length 20
        \tUser-Name = "a"
        (0) No reply from server for ID 7 socket 3
        Sent Access-Request Id 7 from 0.0.0.0:1 to 127.0.0.1:2 length 20
        \tUser-Name = "b"
        Received Access-Challenge Id 7 from 127.0.0.1:2 to 127.0.0.1:1 length 40
        \tState = 0x0102
        \tReply-Message = "Enter \\"code\\"\\t\\303\\251\\001"
        """)
    first, second = parse_output(output)
    assert (first.code, first.sent, first.attrs) == (None, [("User-Name", "a")], [])
    assert second.code == "Access-Challenge"
    assert second.sent == [("User-Name", "b")]
    assert second.attrs == [("State", "0x0102"), ("Reply-Message", 'Enter "code"\t\u00e9\x01')]
    assert second.get("State") == "0x0102"
    assert second.raw.startswith("Received Access-Challenge Id 7")


def test_unquote_leaves_unquoted_values_alone() -> None:
    assert unquote("3600") == "3600"
    assert unquote("0xabcd") == "0xabcd"
    assert unquote('"a\\\\b"') == "a\\b"


def test_missing_binary_skips_or_fails_under_required_integration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RADMFA_REQUIRE_INTEGRATION", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_binary("radmfa-no-such-program")
    monkeypatch.setenv("RADMFA_REQUIRE_INTEGRATION", "1")
    with pytest.raises(pytest.fail.Exception):
        require_binary("radmfa-no-such-program")


def test_required_integration_turns_skipped_integration_tests_into_failures(
    tmp_path: Path,
) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""\
        from tests.conftest import pytest_runtest_makereport  # noqa: F401

        def pytest_configure(config):
            config.addinivalue_line("markers", "integration: needs a real peer")
        """))
    (tmp_path / "test_skips.py").write_text(textwrap.dedent("""\
        import pytest

        @pytest.mark.integration
        def test_peer_missing():
            pytest.skip("no peer here")

        def test_unit_skip():
            pytest.skip("not a peer")
        """))

    def run(required: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(REPO), "RADMFA_REQUIRE_INTEGRATION": required}
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
            capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
        return done.stdout.strip().splitlines()[-1]

    assert "1 failed, 1 skipped" in run("1")
    assert "2 skipped" in run("0")


# -- FreeRADIUS and radclient ------------------------------------------------------


@pytest.mark.integration
def test_right_password_is_accepted_with_reply_attributes(
    freeradius_upstream: FreeRadius, radclient: Radclient,
) -> None:
    [reply] = radclient(freeradius_upstream.address, UPSTREAM_SECRET, [alice()])
    assert reply.code == "Access-Accept"
    assert reply.get("Filter-Id") == "vpn-users"
    assert reply.get("Class") == "0x" + b"grp-alice".hex()  # octets print as hex
    assert reply.get("Session-Timeout") == "3600"
    assert ("Message-Authenticator", "0x00") in reply.sent


@pytest.mark.integration
def test_wrong_password_is_rejected_at_once_without_reply_attributes(
    freeradius_upstream: FreeRadius, radclient: Radclient,
) -> None:
    [reply] = radclient(freeradius_upstream.server, UPSTREAM_SECRET, [alice("wrong")])
    assert reply.code == "Access-Reject"
    assert reply.get("Filter-Id") is None
    # No one-second delay: read from the config the server runs with, not from
    # a stopwatch that a busy machine would fool.
    assert freeradius_upstream.directory is not None
    conf = (freeradius_upstream.directory / "raddb" / "radiusd.conf").read_text()
    assert re.search(r"^\s*reject_delay\s*=\s*0\s*$", conf, re.MULTILINE)


@pytest.mark.integration
def test_unknown_user_is_rejected(freeradius_upstream: FreeRadius, radclient: Radclient) -> None:
    packet = {"User-Name": "mallory", "User-Password": "x"}
    [reply] = radclient(freeradius_upstream.server, UPSTREAM_SECRET, [packet])
    assert reply.code == "Access-Reject"


@pytest.mark.integration
def test_several_packets_come_back_in_order_with_multi_valued_attributes(
    freeradius_upstream: FreeRadius, radclient: Radclient,
) -> None:
    bob = {"User-Name": "bob", "User-Password": "bob-pw"}
    replies = radclient(freeradius_upstream.server, UPSTREAM_SECRET,
                        [alice(), alice("bad"), bob], message_authenticator=False)
    assert [r.code for r in replies] == ["Access-Accept", "Access-Reject", "Access-Accept"]
    assert replies[2].values("Reply-Message") == ["Welcome, bob", "Second line"]
    assert replies[2].values("Cisco-AVPair") == ["shell:priv-lvl=15", "shell:roles=admin"]
    assert "Received Access-Accept" in replies.stdout


@pytest.mark.integration
def test_status_server_is_answered(freeradius_upstream: FreeRadius, radclient: Radclient) -> None:
    [reply] = radclient(freeradius_upstream.server, UPSTREAM_SECRET, [{}], code="status")
    assert reply.code == "Access-Accept"


@pytest.mark.integration
def test_wrong_secret_gives_no_reply(freeradius_upstream: FreeRadius, radclient: Radclient) -> None:
    [reply] = radclient(freeradius_upstream.server, "not-the-secret", [alice()], timeout=0.3)
    assert reply.code is None and reply.id is not None


@pytest.mark.integration
def test_lost_packets_one_at_a_time_and_in_parallel(radclient: Radclient) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{silent.getsockname()[1]}"
        packets = [alice(), {"User-Name": "bob"}]
        lost, unsent = radclient(server, UPSTREAM_SECRET, packets, timeout=0.2)
        assert lost.code is None and lost.id is not None
        assert unsent.code is None and unsent.id is None  # radclient gave up on its file
        replies = radclient(server, UPSTREAM_SECRET, packets, timeout=0.2, parallel=2)
        assert [(r.code, r.id is not None) for r in replies] == [(None, True)] * 2
        assert [r.sent[0] for r in replies] == [("User-Name", "alice"), ("User-Name", "bob")]


@pytest.mark.integration
def test_proxy_mode_forwards_to_its_home_server(
    freeradius_upstream: FreeRadius, freeradius_factory: FreeRadiusFactory, radclient: Radclient,
) -> None:
    home = (freeradius_upstream.host, freeradius_upstream.port, UPSTREAM_SECRET)
    proxy = freeradius_factory(None, "proxy-secret", mode="proxy", home=home)
    accept, reject = radclient(proxy.server, "proxy-secret", [alice(), alice("bad")])
    assert accept.code == "Access-Accept"
    assert accept.get("Filter-Id") == "vpn-users"
    assert reject.code == "Access-Reject"


@pytest.mark.integration
def test_ack_mode_accepts_anyone(
    freeradius_factory: FreeRadiusFactory, radclient: Radclient,
) -> None:
    ack = freeradius_factory(secret="s", mode="ack")  # noqa: S106
    packets = [{"User-Name": f"user{i}", "User-Password": "anything"} for i in range(3)]
    assert [r.code for r in radclient(ack.server, "s", packets)] == ["Access-Accept"] * 3


@pytest.mark.integration
def test_ipv6_loopback(freeradius_factory: FreeRadiusFactory, radclient: Radclient) -> None:
    try:
        server = freeradius_factory(host="::1", secret="s6", users=[ALICE])  # noqa: S106
    except FreeRadiusError as error:
        if "Cannot assign requested address" in str(error):
            pytest.skip("no IPv6 loopback on this machine")
        raise
    assert server.server.startswith("[::1]:")
    [reply] = radclient(server.server, "s6", [alice()])
    assert reply.code == "Access-Accept"


@pytest.mark.integration
def test_start_failure_reports_freeradius_log(freeradius_factory: FreeRadiusFactory) -> None:
    broken = FreeRadiusUser("eve", "pw", reply={"Session-Timeout": "soon"})
    with pytest.raises(FreeRadiusError, match="(?s)exited with status.*Session-Timeout"):
        freeradius_factory(users=[broken])


@pytest.mark.integration
def test_taken_port_is_reported(freeradius_factory: FreeRadiusFactory) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(FreeRadiusError, match="Address already in use"):
            freeradius_factory(sock.getsockname()[1])


@pytest.mark.integration
def test_stop_start_pause_and_context_manager() -> None:
    require_binary("freeradius")
    with FreeRadius(users=[ALICE]) as server:
        pid, directory = server.pid, server.directory
        assert directory is not None and (directory / "log" / "radius.log").exists()
        server.pause()
        with RawNas(server.address, timeout=0.2) as nas:
            assert nas.exchange(status_server_packet(server.secret, 1)) is None
        server.resume()
        server.stop()
        assert not server.running and not directory.exists()
        server.start()
        assert server.pid != pid
    assert server.pid is None


# -- RawNas ----------------------------------------------------------------------


@pytest.mark.integration
def test_raw_nas_exact_retransmission_gets_the_cached_reply(
    freeradius_upstream: FreeRadius,
) -> None:
    # An Access-Request for alice with a random (so wrong) hidden password: no crypto needed.
    attrs = bytes([1, 7]) + b"alice" + bytes([2, 18]) + os.urandom(16)
    packet = bytes([1, 77]) + (20 + len(attrs)).to_bytes(2, "big") + os.urandom(16) + attrs
    with RawNas(freeradius_upstream.address) as nas:
        first = nas.exchange(packet)
        # Like a NAS after its timeout: FreeRADIUS drops a duplicate that arrives while
        # the original is still being wrapped up, and answers later ones from its cache.
        # So resend, as a NAS does, until a reply comes (a busy machine wraps up later).
        again = None
        deadline = time.monotonic() + 30
        while again is None and time.monotonic() < deadline:
            again = nas.exchange(packet, timeout=0.2)
    assert first is not None and first[:2] == bytes([3, 77])  # Access-Reject, same Id
    assert again == first  # byte for byte


@pytest.mark.integration
def test_raw_nas_gets_nothing_back_for_garbage(freeradius_upstream: FreeRadius) -> None:
    with RawNas(freeradius_upstream.address, timeout=0.2) as nas:
        assert nas.exchange(b"\x01\x02\x00\x05garbage") is None
