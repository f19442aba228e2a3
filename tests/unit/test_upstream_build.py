"""The Access-Request RadiusUpstream builds in one pass holds what the
generic encoder would: the NAS's attributes byte-for-byte and in order,
User-Password re-hidden, no Proxy-State or old MA, empty values left out,
the CHAP challenge added when the NAS relied on its authenticator."""

from __future__ import annotations

import pytest

from radmfa.config import UpstreamConfig
from radmfa.core.model import AuthRequest
from radmfa.radius import crypto, wire
from radmfa.upstream.radius import RadiusUpstream

SECRET = b"upstream-secret"
NAS_AUTH = bytes(range(16))
AUTH = bytes(range(16, 32))


def reference(attrs: tuple[wire.Attr, ...], password: bytes) -> bytes:
    out: list[wire.Attr] = []
    chap = has_challenge = False
    for t, v in attrs:
        if t == wire.USER_PASSWORD:
            v = crypto.hide_password(password, SECRET, AUTH)
        elif t in (wire.MESSAGE_AUTHENTICATOR, wire.PROXY_STATE):
            continue
        elif t == wire.CHAP_PASSWORD:
            chap = True
        elif t == wire.CHAP_CHALLENGE:
            has_challenge = True
        out.append((t, v))
    if chap and not has_challenge:
        out.append((wire.CHAP_CHALLENGE, NAS_AUTH))
    return crypto.sign_request(wire.ACCESS_REQUEST, 7, AUTH, wire.encode_attrs(out), SECRET)


@pytest.mark.parametrize("attrs", [
    ((wire.USER_NAME, b"alice"), (wire.USER_PASSWORD, b"x" * 16), (wire.PROXY_STATE, b"ps"),
     (wire.NAS_IDENTIFIER, b""), (wire.MESSAGE_AUTHENTICATOR, bytes(16)), (wire.VENDOR_SPECIFIC, b"v" * 253)),
    ((wire.USER_NAME, b"bob"), (wire.CHAP_PASSWORD, b"\x01" + bytes(16))),
    ((wire.USER_NAME, b"bob"), (wire.CHAP_PASSWORD, b"\x01" + bytes(16)), (wire.CHAP_CHALLENGE, b"c" * 16)),
    ((wire.USER_NAME, b"carol"), (wire.CHAP_PASSWORD, b"")),
])
@pytest.mark.parametrize("password", [b"", b"pw", b"p" * 16, b"p" * 17, b"p" * 128])
def test_build_matches_the_generic_encoder(attrs: tuple[wire.Attr, ...], password: bytes) -> None:
    up = RadiusUpstream(UpstreamConfig("radius", (("127.0.0.1", 1812),), SECRET))
    request = AuthRequest("r", "nas", "127.0.0.1", b"u", password, None, "", NAS_AUTH, attrs)
    assert up.build(request, password, 7, AUTH) == reference(attrs, password)


def test_a_value_too_long_for_an_attribute_raises() -> None:
    up = RadiusUpstream(UpstreamConfig("radius", (("127.0.0.1", 1812),), SECRET))
    request = AuthRequest("r", "nas", "127.0.0.1", b"u", b"", None, "", NAS_AUTH, ((wire.CLASS, b"c" * 254),))
    with pytest.raises(ValueError, match="too long"):
        up.build(request, b"", 7, AUTH)
