"""Framing rules of checklist §1, before any attribute decoding."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radmfa.radius import wire

REQ = frozenset({wire.ACCESS_REQUEST, wire.STATUS_SERVER})


def packet(code=1, attrs=b"", ident=7, length=None, auth=bytes(16)):
    n = 20 + len(attrs) if length is None else length
    return struct.pack("!BBH", code, ident, n) + auth + attrs


def reason(data):
    with pytest.raises(wire.Malformed) as e:
        wire.parse(data, REQ)
    return e.value.reason


@pytest.mark.parametrize("n", [0, 1, 19])
def test_short_datagrams(n):
    assert reason(bytes(n)) == "short_datagram"


def test_length_field_below_minimum():
    assert reason(packet(length=19)) == "bad_length"


def test_length_above_4096_and_truncated():
    assert reason(packet(length=4097) + bytes(4100)) == "too_long"
    assert reason(packet(attrs=b"\x01\x06nemo") + bytes(65_000)) == "too_long"  # padding cannot make it legal
    assert reason(packet(attrs=b"\x01\x06abcd", length=60)) == "truncated"


def test_trailing_padding_is_ignored():
    data = packet(attrs=b"\x01\x06nemo") + bytes(7)
    frame = wire.parse(data, REQ)
    assert frame.data == data[:26] and frame.get(1) == b"nemo"


@pytest.mark.parametrize("code", [0, 2, 3, 4, 5, 11, 13, 40, 255])
def test_other_codes_dropped(code):
    assert reason(packet(code=code)) == "bad_code"


@pytest.mark.parametrize(
    ("attrs", "why"),
    [
        (b"\x01", "attr_header_overflow"),
        (b"\x00\x03a", "attr_type_zero"),
        (b"\x01\x01", "attr_too_short"),
        (b"\x01\x00", "attr_too_short"),
        (b"\x01\x09abc", "attr_overflow"),
        (b"\x50\x02", "ma_bad_length"),
        (b"\x50\x11" + bytes(15), "ma_bad_length"),
        (b"\x50\x13" + bytes(17), "ma_bad_length"),
        (b"\x50\x12" + bytes(16) + b"\x50\x12" + bytes(16), "ma_duplicate"),
        (b"\x02\x12" + bytes(16) + b"\x03\x13" + bytes(17), "conflicting_credentials"),
        (b"\x18\x03a\x18\x03b", "multiple_state"),
        (b"\x01\x03a\x01\x03b", "duplicate_attribute"),
        (b"\x02\x12" + bytes(16) + b"\x02\x12" + bytes(16), "duplicate_attribute"),
    ],
)
def test_attribute_framing(attrs, why):
    assert reason(packet(attrs=attrs)) == why


def test_too_many_attributes_bounded():
    attrs = b"\x1a\x02" * 2038  # a 4096-octet packet of empty attributes
    assert reason(packet(attrs=attrs)) in ("too_many_attributes", "attr_too_short")
    attrs = b"\x1e\x03a" * 201
    assert reason(packet(attrs=attrs)) == "too_many_attributes"


def test_embedded_nul_and_unknown_attributes_kept_raw():
    attrs = b"\x01\x07ab\x00cd" + b"\xfa\x04\x01\x02" + b"\x1a\x0a\x00\x00\x99\x99\x01\x04zz"
    frame = wire.parse(packet(attrs=attrs), REQ)
    assert frame.attrs == ((1, b"ab\x00cd"), (250, b"\x01\x02"), (26, b"\x00\x00\x99\x99\x01\x04zz"))


def test_ma_position_does_not_matter():
    attrs = b"\x01\x06nemo" + b"\x50\x12" + bytes(16)
    assert wire.parse(packet(attrs=attrs), REQ).ma_offset == 28


def test_encode_skips_empty_and_refuses_oversize():
    assert wire.encode_attrs([(1, b""), (18, b"hi")]) == b"\x12\x04hi"
    with pytest.raises(ValueError):
        wire.encode_attrs([(18, bytes(254))])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(data):
    try:
        frame = wire.parse(data, REQ)
    except wire.Malformed:
        return
    assert sum(len(v) + 2 for _, v in frame.attrs) == len(frame.data) - 20


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 255), st.binary(min_size=1, max_size=40)), max_size=20), st.data())
def test_mutated_valid_packets_never_crash(attrs, data):
    body = wire.encode_attrs(attrs)
    raw = bytearray(packet(attrs=body))
    if raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(wire.Malformed):
        wire.parse(bytes(raw), REQ)


def _reference_parse(data, allowed):
    """The framing rules written plainly, one rule at a time: ``wire.parse``
    checks them in one walk and must agree on every input."""
    if len(data) < 20:
        raise wire.Malformed("short_datagram")
    if len(data) > 4096:
        raise wire.Malformed("too_long")
    if data[0] not in allowed:
        raise wire.Malformed("bad_code")
    length = int.from_bytes(data[2:4], "big")
    if length < 20:
        raise wire.Malformed("bad_length")
    if length > 4096:
        raise wire.Malformed("too_long")
    if len(data) < length:
        raise wire.Malformed("truncated")
    data = data[:length]
    attrs, pos, ma = [], 20, -1
    while pos < length:
        if pos + 2 > length:
            raise wire.Malformed("attr_header_overflow")
        t, n = data[pos], data[pos + 1]
        if t == 0:
            raise wire.Malformed("attr_type_zero")
        if n < 2:
            raise wire.Malformed("attr_too_short")
        if pos + n > length:
            raise wire.Malformed("attr_overflow")
        if t == wire.MESSAGE_AUTHENTICATOR:
            if n != 18:
                raise wire.Malformed("ma_bad_length")
            if ma >= 0:
                raise wire.Malformed("ma_duplicate")
            ma = pos + 2
        attrs.append((t, data[pos + 2 : pos + n]))
        if len(attrs) > wire.MAX_ATTRIBUTES:
            raise wire.Malformed("too_many_attributes")
        pos += n
    if data[0] == wire.ACCESS_REQUEST:
        types = [t for t, _ in attrs]
        if sum(1 for t in (2, 3, 79, 70) if t in types) > 1:
            raise wire.Malformed("conflicting_credentials")
        if types.count(24) > 1:
            raise wire.Malformed("multiple_state")
        if any(types.count(t) > 1 for t in (1, 2, 3, 70, 24)):
            raise wire.Malformed("duplicate_attribute")
    return (data[0], data[1], data[4:20], data, tuple(attrs), ma, _types(attrs).count(wire.PROXY_STATE))


def _types(attrs):
    return [t for t, _ in attrs]


def _outcome(parse, data):
    try:
        frame = parse(data, REQ)
    except wire.Malformed as e:
        return e.reason
    if isinstance(frame, wire.Frame):
        return (frame.code, frame.ident, frame.authenticator, frame.data, frame.attrs, frame.ma_offset,
                frame.proxy_states)
    return frame


_TYPES = st.sampled_from([1, 2, 3, 24, 26, 31, 33, 70, 79, 80, 0, 250])


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([1, 12]),
       st.lists(st.tuples(_TYPES, st.integers(0, 20)), max_size=12),
       st.integers(-3, 3), st.binary(max_size=3))
def test_parse_agrees_with_the_rules_written_plainly(code, attrs, length_error, tail):
    body = b"".join(bytes((t, n)) + bytes(max(0, n - 2)) for t, n in attrs)
    data = packet(code=code, attrs=body, length=max(0, 20 + len(body) + length_error)) + tail
    assert _outcome(wire.parse, data) == _outcome(_reference_parse, data)


@pytest.mark.parametrize("count", [199, 200, 201, 202])
def test_attribute_count_limit_agrees_with_the_rules(count):
    for filler in (b"\x1e\x02", b"\x1e\x03a"):
        data = packet(attrs=filler * count + b"\x01\x01")
        assert _outcome(wire.parse, data) == _outcome(_reference_parse, data)
        data = packet(attrs=filler * count)
        assert _outcome(wire.parse, data) == _outcome(_reference_parse, data)


def test_the_known_good_orders_pass_the_access_request_rules():
    # parse skips the whole-packet rules for these orders of User-Name,
    # State and one credential: each must be one the rules accept.
    assert (wire.USER_NAME, wire.USER_PASSWORD) in wire._PLAIN_ONCE
    for order in wire._PLAIN_ONCE:
        wire._check_access_request(list(order))
    assert (wire.USER_PASSWORD, wire.CHAP_PASSWORD) not in wire._PLAIN_ONCE
    assert (wire.USER_NAME, wire.USER_NAME) not in wire._PLAIN_ONCE
