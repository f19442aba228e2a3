"""Accounting-, Disconnect-Request and Accounting-Response coding (radius/accounting.py),
checked against the RFC 2866 §3 / RFC 5176 §2.3 formulas written out here."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from radmfa.radius import accounting, wire
from radmfa.radius.accounting import ACCT_SESSION_ID, ACCT_STATUS_TYPE

SECRET = b"xyzzy5461"
ATTRS = wire.encode_attrs([(ACCT_STATUS_TYPE, (1).to_bytes(4, "big")), (ACCT_SESSION_ID, b"S-1"), (1, b"alice")])


def test_request_authenticator_is_rfc_2866_md5() -> None:
    data = accounting.sign_request(wire.ACCOUNTING_REQUEST, 7, ATTRS, SECRET, message_authenticator=False)
    assert data[:4] == bytes((4, 7, 0, 20 + len(ATTRS)))
    assert data[4:20] == hashlib.md5(data[:4] + bytes(16) + ATTRS + SECRET).digest()  # noqa: S324
    frame = wire.parse(data)
    assert accounting.verify_request(frame, SECRET)
    assert not accounting.verify_request(frame, b"other")
    tampered = wire.parse(data[:-1] + b"b")
    assert not accounting.verify_request(tampered, SECRET)


def test_message_authenticator_over_a_zero_authenticator() -> None:
    data = accounting.sign_request(accounting.DISCONNECT_REQUEST, 9, ATTRS, SECRET, message_authenticator=True)
    assert data[20:22] == bytes((80, 18))  # first
    unsigned = data[:4] + bytes(16) + data[20:22] + bytes(16) + data[38:]
    assert data[22:38] == hmac.new(SECRET, unsigned, hashlib.md5).digest()
    assert data[4:20] == hashlib.md5(data[:4] + bytes(16) + data[20:] + SECRET).digest()  # noqa: S324
    frame = wire.parse(data)
    assert accounting.verify_request(frame, SECRET)
    forged_ma = data[:22] + bytes(16) + data[38:]
    auth = hashlib.md5(forged_ma[:4] + bytes(16) + forged_ma[20:] + SECRET).digest()  # noqa: S324
    resigned = forged_ma[:4] + auth + forged_ma[20:]
    assert not accounting.verify_request(wire.parse(resigned), SECRET)  # a right authenticator, a wrong MA


def test_accounting_response_round_trip() -> None:
    request_auth = bytes(range(16))
    reply = accounting.sign_response(3, request_auth, wire.encode_attrs([(33, b"hop")]), SECRET)
    assert reply[0] == wire.ACCOUNTING_RESPONSE and reply[1] == 3
    assert reply[4:20] == hashlib.md5(reply[:4] + request_auth + reply[20:] + SECRET).digest()  # noqa: S324
    frame = wire.parse(reply)
    assert accounting.verify_response(frame, request_auth, SECRET)
    assert not accounting.verify_response(frame, bytes(16), SECRET)
    assert frame.ma_offset >= 0


def test_accounting_response_without_message_authenticator() -> None:
    request_auth = bytes(range(16))
    reply = accounting.sign_response(3, request_auth, wire.encode_attrs([(33, b"hop")]), SECRET,
                                     message_authenticator=False)
    assert len(reply) == 20 + 5 and reply.endswith(bytes((33, 5)) + b"hop")
    frame = wire.parse(reply)
    assert frame.ma_offset < 0
    assert accounting.verify_response(frame, request_auth, SECRET)


def test_accounting_event_and_error_cause() -> None:
    data = accounting.sign_request(
        wire.ACCOUNTING_REQUEST, 1,
        ATTRS + wire.encode_attrs([(wire.FRAMED_IP_ADDRESS, bytes((10, 8, 0, 5))),
                                   (wire.NAS_IP_ADDRESS, bytes((192, 0, 2, 10)))]),
        SECRET, message_authenticator=False,
    )
    event = accounting.accounting_event(wire.parse(data))
    assert event is not None
    assert (event.status_name, event.session_id, event.username, event.framed_ip, event.nas_ip) == (
        "start", "S-1", "alice", "10.8.0.5", "192.0.2.10")
    no_status = accounting.sign_request(wire.ACCOUNTING_REQUEST, 1, b"", SECRET, message_authenticator=False)
    assert accounting.accounting_event(wire.parse(no_status)) is None
    nak = bytes((42, 1, 0, 26)) + bytes(16) + bytes((101, 6, 0, 0, 1, 247))
    assert accounting.error_cause(wire.parse(nak)) == "503 Session Context Not Found"


@pytest.mark.parametrize("value", [b"", b"\x00\x01", b"12345"])
def test_malformed_integers_and_addresses_are_absent(value: bytes) -> None:
    assert accounting.integer(value) is None
    assert accounting.ipv4(value) == ""
