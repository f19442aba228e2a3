"""What RadiusUpstream makes of a verified Access-Accept: the upstream's
attributes without its hop-by-hop ones, salt-encrypted values decrypted
(Tunnel-Password, MS-MPPE keys), the User-Name it names, and a reject when
a salted value is malformed. Replies with no salted value skip the
decryption: the result must be what decrypting them would give."""

from __future__ import annotations

import pytest

from radmfa.config import UpstreamConfig
from radmfa.radius import crypto, packet, wire
from radmfa.upstream.radius import RadiusUpstream

SECRET = b"upstream-secret"
AUTH = bytes(range(16, 32))
SALT = b"\x80\x01"
TUNNEL = (wire.TUNNEL_PASSWORD, b"\x01" + crypto.salt_encrypt(b"tunnel-pw", SECRET, AUTH, SALT))
_KEY = crypto.salt_encrypt(b"k" * 16, SECRET, AUTH, SALT)  # the salt, then the encrypted key
MS_KEY = (wire.VENDOR_SPECIFIC, packet._MS_PREFIX + bytes((16, len(_KEY) + 2)) + _KEY)
HOP = ((wire.STATE, b"their-state"), (wire.PROXY_STATE, b"ps"))  # and the Message-Authenticator signing adds


def accept(*attrs: wire.Attr) -> wire.Frame:
    data = crypto.sign_response(wire.ACCESS_ACCEPT, 7, AUTH, wire.encode_attrs(list(attrs)), SECRET)
    return wire.parse(data)


def upstream() -> RadiusUpstream:
    return RadiusUpstream(UpstreamConfig("radius", (("127.0.0.1", 1812),), SECRET))


@pytest.mark.parametrize("attrs", [
    (),
    HOP,
    ((wire.CLASS, b"c1"), *HOP, (wire.SESSION_TIMEOUT, b"\x00\x00\x0e\x10")),
    ((wire.USER_NAME, b"alice"), (wire.CLASS, b"c1")),
    ((wire.CLASS, b"c1"), TUNNEL, (wire.PROXY_STATE, b"ps"), MS_KEY),
    ((wire.TUNNEL_PASSWORD, b"\x01"),),  # too short to hold a salt: passed on as it is
    ((wire.VENDOR_SPECIFIC, b"\x00\x00\x00\x09vendor"),),  # not Microsoft's
])
def test_an_accept_keeps_what_decrypting_every_attribute_gives(attrs: tuple[wire.Attr, ...]) -> None:
    frame = accept(*attrs)
    result = upstream()._result(frame, AUTH, "up")
    expected = packet.reveal([(t, v) for t, v in frame.attrs if t not in packet.HOP_BY_HOP], SECRET, AUTH)
    assert result.accepted and result.reason == "upstream accept"
    assert result.reply_attrs == tuple(expected)
    names = frame.all(wire.USER_NAME)
    assert result.canonical_name == (names[0].decode() if names else None)


def test_salted_values_are_decrypted() -> None:
    result = upstream()._result(accept((wire.CLASS, b"c1"), TUNNEL, MS_KEY), AUTH, "up")
    assert result.reply_attrs[0] == (wire.CLASS, b"c1")
    assert result.reply_attrs[1] == (wire.TUNNEL_PASSWORD, b"\x01tunnel-pw")
    assert result.reply_attrs[2][1].endswith(b"k" * 16)


def test_a_malformed_salted_value_rejects() -> None:
    result = upstream()._result(accept((wire.TUNNEL_PASSWORD, b"\x01" + SALT + b"short")), AUTH, "up")
    assert not result.accepted and result.reason == "malformed encrypted attribute from upstream"


def test_two_user_names_reject() -> None:
    result = upstream()._result(accept((wire.USER_NAME, b"a"), (wire.USER_NAME, b"b")), AUTH, "up")
    assert not result.accepted and result.reason == "several User-Names from upstream"


@pytest.mark.parametrize("attrs", [(), ((wire.CLASS, b"c1"),), ((wire.STATE, b"s"),)])
def test_an_accept_without_message_authenticator(attrs: tuple[wire.Attr, ...]) -> None:
    # _result skips the filtering when the Accept holds nothing but its MA:
    # without an MA, one attribute is one to pass on (unless hop-by-hop).
    body = wire.encode_attrs(list(attrs))
    head = bytes((wire.ACCESS_ACCEPT, 7)) + (20 + len(body)).to_bytes(2, "big")
    frame = wire.parse(head + bytes(16) + body)
    assert frame.ma_offset < 0
    result = upstream()._result(frame, AUTH, "up")
    assert result.reply_attrs == tuple(a for a in attrs if a[0] not in packet.HOP_BY_HOP)
