"""Known-answer vectors: RFC 2865 §7.1/§7.3, RFC 5997 §6, password hiding."""

from __future__ import annotations

import pytest

from radmfa.radius import crypto, wire

SECRET = b"xyzzy5461"
H = bytes.fromhex

RFC2865_71_REQUEST = H(
    "01000038 0f403f9473978057bd83d5cb98f4227a 01066e656d6f"
    " 02120dbe708d93d413ce3196e43f782a0aee 0406c0a80110 050600000003".replace(" ", "")
)
RFC2865_71_ACCEPT = H(
    "02000026 86fe220e7624ba2a1005f6bf9b55e0b2 060600000001 0f0600000000 0e06c0a80103".replace(" ", "")
)
RFC2865_73_RA1 = H("f3a47a1f6a6d76710b947ab93041a039")


def test_rfc2865_7_1_request_parses_and_password_decrypts():
    frame = wire.parse(RFC2865_71_REQUEST, frozenset({1}))
    assert frame.get(wire.USER_NAME) == b"nemo"
    assert crypto.unhide_password(frame.get(wire.USER_PASSWORD), SECRET, frame.authenticator) == b"arctangent"
    assert frame.ma_offset == -1


def test_rfc2865_7_1_accept_authenticator_verifies():
    request_auth = RFC2865_71_REQUEST[4:20]
    assert crypto.verify_response(RFC2865_71_ACCEPT, request_auth, SECRET, -1)
    tampered = RFC2865_71_ACCEPT[:-1] + b"\x04"
    assert not crypto.verify_response(tampered, request_auth, SECRET, -1)
    assert not crypto.verify_response(RFC2865_71_ACCEPT, request_auth, b"wrong", -1)


def test_rfc2865_7_3_challenge_flow_vectors():
    challenge_pw = crypto.hide_password(b"challenge", SECRET, RFC2865_73_RA1)
    assert crypto.unhide_password(challenge_pw, SECRET, RFC2865_73_RA1) == b"challenge"
    ra2 = H("b122556d428a13d0d6253807c457ecf0")
    reject = H("03030014a42f4fca45916c4e09c8340f9e746aa0")
    assert crypto.verify_response(reject, ra2, SECRET, -1)


def test_ma_first_access_challenge_vector():
    """Checklist §17: MA-first Access-Challenge answering RFC 2865 §7.3's first request."""
    attrs = wire.encode_attrs([(wire.REPLY_MESSAGE, b"Enter OTP"), (wire.STATE, H("0102030405060708"))])
    reply = crypto.sign_response(wire.ACCESS_CHALLENGE, 2, RFC2865_73_RA1, attrs, SECRET)
    assert reply == H(
        "0b02003b1611ec15c9cdc579febdf9bed56bbe6a5012ae6bde5c177d5e11dedf191cc28f79ff"
        "120b456e746572204f5450180a0102030405060708"
    )
    assert reply[20] == wire.MESSAGE_AUTHENTICATOR and reply[21] == 18
    assert crypto.verify_response(reply, RFC2865_73_RA1, SECRET, 22)


def test_rfc5997_6_1_status_server():
    request = H("0cda00268a54f4686fb394c52866e302185d062350125a665e2e1e8411f3e243822097c84fa3")
    frame = wire.parse(request, frozenset({12}))
    assert frame.ma_offset == 22
    assert crypto.verify_request_ma(frame.data, frame.ma_offset, SECRET)
    flipped = bytearray(request)
    flipped[-1] ^= 1
    assert not crypto.verify_request_ma(bytes(flipped), frame.ma_offset, SECRET)
    reply = H("02da0014ef0d552a4bf2d693ec2b6fe8b5411d66")
    assert crypto.verify_response(reply, frame.authenticator, SECRET, -1)


def test_rfc5997_6_3_status_server_with_attributes():
    request = H("0c47002cbf58de56ae408ad3b70c8513f9b03fbe0406c00002105012852d6fec61e7ed74b8e32dac2f2a5fb2")
    frame = wire.parse(request, frozenset({12}))
    assert frame.get(wire.NAS_IP_ADDRESS) == H("c0000210")
    assert crypto.verify_request_ma(frame.data, frame.ma_offset, SECRET)
    reply = H(
        "0247003446f43e62fd0354424cbbebfd6d214e06122052414449555320536572766572207570203220646179732c2031383a3430"
    )
    assert crypto.verify_response(reply, frame.authenticator, SECRET, -1)
    assert wire.parse(reply).get(wire.REPLY_MESSAGE) == b"RADIUS Server up 2 days, 18:40"


@pytest.mark.parametrize(
    ("password", "cipher"),
    [
        (b"arctangent", "0dbe708d93d413ce3196e43f782a0aee"),
        (b"0123456789abcdef", "5cfd21cac68f429c67db855d1b4e6f88"),
        (b"0123456789abcdefg", "5cfd21cac68f429c67db855d1b4e6f88a5d4009c1713827bf27e710fcb3f96b4"),
        (
            b"x" * 128,
            "14b46b818ac20cd3279a9c4700527296bb193f611118663016a74d176acf012fd6d77ab06b9e4411a73f640c736acb33"
            "a9d2673de6d043f4e46d185eb6609232f20cb7fc895d2590f320873bd5e6b1a6c80ca6ceec60d314114088b71d827cf3"
            "0d67ab07d5d1c62fbe8fdb2436950d80a520f8981b3b1aacc3cc1006deba56b3",
        ),
    ],
)
def test_password_hiding_vectors(password, cipher):
    ra = H("0f403f9473978057bd83d5cb98f4227a")
    assert crypto.hide_password(password, SECRET, ra).hex() == cipher
    assert crypto.unhide_password(H(cipher), SECRET, ra) == password


def test_password_hiding_length_one_and_empty():
    ra = bytes(range(16))
    one = crypto.hide_password(b"a", SECRET, ra)
    assert len(one) == 16 and crypto.unhide_password(one, SECRET, ra) == b"a"
    empty = crypto.hide_password(b"", SECRET, ra)
    assert len(empty) == 16  # PW-4: never a zero-length attribute
    assert crypto.unhide_password(empty, SECRET, ra) == b""


def test_freeradius_rfc2868_vector():
    ra = bytes(range(16))
    assert crypto.hide_password(b"bob", b"testing123", ra).hex() == "f4816bca74fd7a1a104607240014828b"


@pytest.mark.parametrize("n", [0, 1, 15, 17, 31, 129, 144])
def test_unhide_rejects_illegal_lengths(n):
    with pytest.raises(ValueError):
        crypto.unhide_password(bytes(n), SECRET, bytes(16))


def test_non_utf8_password_bytes_survive():
    ra = bytes(range(16))
    pw = b"\xff\xfe\x00x"
    assert crypto.unhide_password(crypto.hide_password(pw, SECRET, ra), SECRET, ra) == pw


def test_salt_encryption_round_trip_and_salt_rules():
    ra = bytes(range(16))
    used: set[bytes] = set()
    salts = [crypto.new_salt(used) for _ in range(50)]
    assert len(set(salts)) == 50 and all(s[0] & 0x80 for s in salts)
    key = bytes(range(32))
    enc = crypto.salt_encrypt(key, SECRET, ra, salts[0])
    assert enc[:2] == salts[0] and (len(enc) - 2) % 16 == 0
    assert crypto.salt_decrypt(enc, SECRET, ra) == key
    with pytest.raises(ValueError):
        crypto.salt_decrypt(b"\x80\x01\x02", SECRET, ra)
