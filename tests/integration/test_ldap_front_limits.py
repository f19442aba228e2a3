"""The LDAP front end under bad input and load: clients it does not know,
binds without TLS, malformed and truncated messages, its limits, and a
directory that stops answering. radmfa runs as a real process before slapd."""

from __future__ import annotations

import signal
import time

import pytest
from ldap3.protocol.rfc4511 import AbandonRequest

from radmfa.front.ldap import protocol
from radmfa.front.ldap.ber import NOT_FINAL, peek
from tests.integration.ldap_front_env import (
    RawClient,
    apps,  # noqa: F401
    audit_rows,
    directory,  # noqa: F401
    dropped,
    message,
    other_address,
    search_pdu,
    start_front,
)
from tests.integration.phone_env import add_user, peers, wait_for  # noqa: F401
from tests.peers.slapd import ALICE, BASE_DN, SERVICE_DN, SERVICE_PW

pytestmark = pytest.mark.integration


def test_a_bind_without_tls_is_refused_off_loopback(radmfa_factory, peers, directory, apps):  # noqa: F811
    other = other_address()
    plain = f"ldap://{other}:{free_port(other)}"
    front = start_front(radmfa_factory, peers, directory, listen=f'"{plain}"',
                        tables=f'[ldap_front.clients.lan]\nnetworks = ["{other}/32"]\n')
    add_user(front.server, "alice", None, mobile="+14155550123", default_method="push")
    peers.ntfy.tap_label = "Approve"
    with front.server:
        conn = apps.bind(front, plain, ALICE.dn, ALICE.password)
        assert (conn.result["result"], conn.result["description"]) == (13, "confidentialityRequired")
        conn.search(BASE_DN, "(uid=alice)")
        assert conn.result["result"] == 13  # nothing passes in clear, bound or not
    assert peers.ntfy.published == []  # refused before the password was even looked at
    assert [(r["client"], r["client_ip"], r["reason"]) for r in audit_rows(front.server)] == [
        ("lan", other, "bind without TLS")
    ]


def test_an_address_no_client_lists_is_turned_away(radmfa_factory, peers, directory):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory)  # [ldap_front.clients.wiki] is 127.0.0.0/8 only
    with front.server:
        stranger = RawClient(front.ldap, source=other_address())
        assert stranger.closed()  # before anything is said
        stranger.close()
        friend = RawClient(front.ldap)
        friend.send(message(1, "bindRequest", bind_body(SERVICE_DN, SERVICE_PW)))
        assert friend.result() == (1, "bindResponse", 0)
        friend.close()
    assert dropped(front.server) == {"unknown_client": 1}


def free_port(host: str) -> int:
    from tests.fakes.server import free_tcp_port

    return free_tcp_port(host)


def bind_body(dn: str, password: str):  # noqa: ANN201 - a pyasn1 BindRequest
    from ldap3.operation.bind import bind_operation

    return bind_operation(3, "SIMPLE", dn, password)


def nested_filter(levels: int) -> bytes:
    """A search whose filter is ``levels`` nots deep, by hand (BER)."""
    inner = bytes.fromhex("870b6f626a656374436c617373")  # (objectClass=*)
    for _ in range(levels):
        inner = b"\xa2\x83" + len(inner).to_bytes(3, "big") + inner
    body = bytes.fromhex("04000a01020a0100020100020100010100") + inner + bytes.fromhex("3000")
    op = b"\x63\x83" + len(body).to_bytes(3, "big") + body
    msg = bytes.fromhex("020102") + op
    return b"\x30\x83" + len(msg).to_bytes(3, "big") + msg


ATTACKS = {
    "not_a_sequence": b"\x04\x03abc",
    "indefinite_length": b"\x30\x80\x02\x01\x01\x42\x00\x00\x00",
    "too_large": b"\x30\x84\x01\x00\x00\x00",  # 16 MiB announced
    "bad_ber": b"\x30\x05\x02\x01\x01\x63\x00",  # a searchRequest with nothing in it
    "not_a_request": bytes.fromhex("300c02010161070a013104000400"),  # a bindResponse, from the client
}


def test_malformed_and_truncated_messages_end_only_their_own_connection(
    radmfa_factory, peers, directory, apps  # noqa: F811
):
    front = start_front(radmfa_factory, peers, directory)
    with front.server:
        good = apps.bind(front, front.ldaps, SERVICE_DN, SERVICE_PW)
        assert good.bound
        for name, data in [*ATTACKS.items(), ("deeply_nested", nested_filter(5000))]:
            bad = RawClient(front.ldap)
            bad.send(data)
            notice = bad.receive()
            assert notice is not None and protocol.result_code(notice) == (0, "extendedResp", 2), name
            assert bad.closed(), name  # RFC 4511 §4.1.1: protocolError, then the session ends
            bad.close()
            assert good.search(BASE_DN, "(uid=alice)") and len(good.entries) == 1, name
        # a message cut short: the client goes away in the middle of it
        cut = RawClient(front.ldaps, front)
        cut.send(search_pdu(2, BASE_DN)[:9])
        cut.close()
        # the same over TLS, a message split across reads, does no harm
        split = RawClient(front.ldaps, front)
        pdu = message(1, "bindRequest", bind_body(SERVICE_DN, SERVICE_PW))
        split.send(pdu[:5])
        split.send(pdu[5:])
        assert split.result() == (1, "bindResponse", 0)
        split.close()
        assert good.search(BASE_DN, "(uid=alice)") and len(good.entries) == 1
    # each counted under its reason (a filter nested past what the decoder takes is bad BER)
    assert dropped(front.server) == {**dict.fromkeys(ATTACKS, 1), "bad_ber": 2, "truncated": 1}


def responses_until_done(client: RawClient, message_ids: set[int]) -> dict[int, int]:
    """Read until every one of ``message_ids`` has its final response: id → result code
    (responses to other operations, such as one abandoned too late to stop it, are passed over)."""
    done: dict[int, int] = {}
    while set(done) != message_ids:
        pdu = client.receive()
        assert pdu is not None, f"closed before {message_ids - set(done)} were answered"
        message_id, op = peek(pdu)
        if op not in NOT_FINAL and message_id in message_ids:
            done[message_id] = protocol.result_code(pdu)[2]
    return done


def test_limits_busy_message_size_and_connections(radmfa_factory, peers, directory):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory, more="max_operations = 1\nmax_message_bytes = 4096",
                        client="max_connections = 3")
    with front.server:
        # one operation in progress at a time: the second, sent with the first, is answered busy
        raw = RawClient(front.ldap)
        raw.send(message(1, "bindRequest", bind_body(SERVICE_DN, SERVICE_PW)))
        assert raw.result() == (1, "bindResponse", 0)
        raw.send(search_pdu(2, BASE_DN, "(uid=alice)") + search_pdu(3, BASE_DN, "(uid=bob)"))
        assert responses_until_done(raw, {2, 3}) == {2: 0, 3: 51}
        # an abandoned operation is no longer in progress (RFC 4511 §4.11): the next one is not busy
        abandon = message(6, "abandonRequest", AbandonRequest(5))
        raw.send(search_pdu(5, BASE_DN, "(uid=alice)") + abandon + search_pdu(7, BASE_DN, "(uid=bob)"))
        assert responses_until_done(raw, {7}) == {7: 0}
        # a message over max_message_bytes ends the session
        raw.send(search_pdu(4, BASE_DN, f"(description={'x' * 5000})"))
        notice = raw.receive()
        assert notice is not None and protocol.result_code(notice) == (0, "extendedResp", 2)
        assert raw.closed()
        raw.close()
        # max_connections: a fourth connection from the client is closed at once
        held = []
        for _ in range(3):
            held.append(RawClient(front.ldap))
            held[-1].send(search_pdu(1, BASE_DN))
            assert held[-1].result()[2] == 50  # in session (insufficientAccessRights: not bound)
        extra = RawClient(front.ldap)
        assert extra.closed()
        extra.close()
        held.pop().close()

        def one_more_fits() -> bool:
            client = RawClient(front.ldap)
            try:
                client.send(search_pdu(1, BASE_DN))
                return client.receive() is not None
            finally:
                client.close()

        wait_for(one_more_fits)
        for client in held:
            client.close()
    counts = dropped(front.server)
    assert counts["busy"] == 1 and counts["too_large"] == 1 and counts["too_many_connections"] >= 1


def test_a_session_with_nothing_to_do_is_closed(radmfa_factory, peers, directory):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory, more="idle_timeout_s = 1")
    with front.server:
        quiet = RawClient(front.ldap)
        assert quiet.closed(timeout=30)  # nothing was sent: idle_timeout_s later, it is closed
        quiet.close()
    assert dropped(front.server) == {"idle_timeout": 1}


def test_a_stalled_directory_holds_only_the_sessions_waiting_on_it(radmfa_factory, peers, directory):  # noqa: F811
    # radmfa waits for the stopped directory longer than this test can take on
    # a busy machine: an answer to the waiting search can only come from slapd.
    front = start_front(radmfa_factory, peers, directory, directory_timeout_s=60)
    with front.server:
        waiting = RawClient(front.ldaps, front)
        try:
            waiting.send(message(1, "bindRequest", bind_body(SERVICE_DN, SERVICE_PW)))
            assert waiting.result() == (1, "bindResponse", 0)
            assert directory.proc is not None
            directory.proc.send_signal(signal.SIGSTOP)
            try:
                waiting.send(search_pdu(2, BASE_DN, "(uid=alice)"))  # to a directory that does not answer
                # another application's session goes on meanwhile
                started = time.monotonic()
                other = RawClient(front.ldap)
                try:
                    other.send(protocol.bind_request(1, "", b""))
                    assert other.result() == (1, "bindResponse", 48)  # anonymous not allowed: answered at once
                    other.send(search_pdu(2, BASE_DN))
                    assert other.result() == (2, "searchResDone", 50)
                finally:
                    other.close()
                assert time.monotonic() - started < 5
                with pytest.raises(TimeoutError):
                    waiting.receive(timeout=0.5)  # the waiting session still waits
            finally:
                directory.proc.send_signal(signal.SIGCONT)
            # once the directory answers, the waiting search completes
            assert responses_until_done(waiting, {2}) == {2: 0}
        finally:
            waiting.close()
    assert dropped(front.server) == {}


def test_a_push_not_answered_within_the_clients_time_is_refused(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory, client="bind_timeout_s = 2", oob_timeout_s=30)
    add_user(front.server, "alice", None, mobile="+14155550123", default_method="push")
    with front.server:
        started = time.monotonic()
        conn = apps.bind(front, front.ldaps, ALICE.dn, ALICE.password)  # nobody taps the push
        assert conn.result["result"] == 49 and time.monotonic() - started < 10
        assert len(peers.ntfy.published) == 1
    assert [r["reason"] for r in audit_rows(front.server)] == ["no decision within 2 s"]


def test_a_client_leaving_while_its_push_is_held_is_audited(radmfa_factory, peers, directory):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory, oob_timeout_s=30)
    add_user(front.server, "alice", None, mobile="+14155550123", default_method="push")
    with front.server:
        leaving = RawClient(front.ldap)
        leaving.send(message(1, "bindRequest", bind_body(ALICE.dn, ALICE.password)))
        wait_for(lambda: peers.ntfy.published)
        leaving.close()
        wait_for(lambda: audit_rows(front.server))
    assert [r["reason"] for r in audit_rows(front.server)] == ["client closed the connection before the decision"]


def test_a_directory_that_is_down_answers_unavailable_not_wrong_password(
    radmfa_factory, peers, directory, apps  # noqa: F811
):
    front = start_front(radmfa_factory, peers, directory)
    add_user(front.server, "alice", None, mobile="+14155550123", default_method="push")
    with front.server:
        directory.halt()
        conn = apps.bind(front, front.ldaps, ALICE.dn, ALICE.password)
        assert (conn.result["result"], conn.result["description"]) == (52, "unavailable")
        svc = apps.bind(front, front.ldaps, SERVICE_DN, SERVICE_PW)
        assert svc.result["result"] == 52
    assert peers.ntfy.published == []
    assert [r["reason"] for r in audit_rows(front.server)] == ["upstream unavailable", "directory unavailable"]
