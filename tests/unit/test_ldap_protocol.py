"""LDAP messages: framing (RFC 4511 §5.1, X.690 §8.1) and decoding (RFC 4511
§4, pyasn1 with ldap3's ASN.1 module). The request vectors were captured from
OpenLDAP 2.5's own tools (ldapsearch, ldapwhoami, ldapcompare, ldappasswd)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radmfa.front.ldap import ber, protocol
from radmfa.front.ldap.ber import Framer, Malformed

# ldapsearch -D uid=alice,ou=people,dc=example,dc=org -w pw (the bind)
BIND = bytes.fromhex(
    "3039020101603402010304257569643d616c6963652c6f753d70656f706c652c64633d6578616d706c652c64633d6f7267"
    "8008616c6963652d7077"
)
# ldapsearch -b dc=example,dc=org '(&(objectClass=*)(!(uid=bob))(|(cn=a*b*c)(sn>=x)(sn<=y)(cn~=z)
#   (cn:caseExactMatch:=Q)(:dn:2.5.13.5:=foo)))' cn mail +
SEARCH = bytes.fromhex(
    "3081af0201026381a9041164633d6578616d706c652c64633d6f72670a01020a0100020100020100010100a076870b6f62"
    "6a656374436c617373a20ca30a04037569640403626f62a159a40f0402636e3009800161810162820163a5070402736e04"
    "0178a6070402736e040179a8070402636e04017aa917810e6361736545786163744d617463688202636e830151a9128108"
    "322e352e31332e358303666f6f8401ff300d0402636e04046d61696c04012b"
)
# ldapsearch -E pr=10/noprompt -s base -b '' (a paged-results control, RFC 2696)
PAGED = bytes.fromhex(
    "304a020102632004000a01000a0100020100020100010100870b6f626a656374436c6173733000a023302104163"
    "12e322e3834302e3131333535362e312e342e3331390407300502010a0400"
)
WHOAMI = bytes.fromhex("301e02010277198017312e332e362e312e342e312e343230332e312e31312e33")
COMPARE = bytes.fromhex(
    "30390201026e3404257569643d616c6963652c6f753d70656f706c652c64633d6578616d706c652c64633d6f7267300b04"
    "02636e0405416c696365"
)
PASSWD = bytes.fromhex(
    "302702010277228017312e332e362e312e342e312e343230332e312e31312e318107300582036e6577"
)
UNBIND = bytes.fromhex("30050201034200")


def test_real_clients_requests_decode():
    bind = protocol.decode_request(BIND)
    assert (bind.message_id, bind.op) == (1, "bindRequest")
    assert bind.bind == protocol.Bind(3, "uid=alice,ou=people,dc=example,dc=org", b"alice-pw", "simple")
    assert "alice-pw" not in repr(bind) and "alice-pw" not in repr(bind.bind)
    assert protocol.decode_request(SEARCH).op == "searchRequest"
    assert protocol.decode_request(PAGED).pdu == PAGED  # kept as received, control and all
    assert protocol.decode_request(WHOAMI).oid == "1.3.6.1.4.1.4203.1.11.3"
    assert protocol.decode_request(COMPARE).op == "compareRequest"
    assert protocol.decode_request(PASSWD).oid == "1.3.6.1.4.1.4203.1.11.1"
    assert protocol.decode_request(UNBIND).op == "unbindRequest"
    start_tls = protocol.decode_request(protocol.start_tls_request(7))
    assert (start_tls.message_id, start_tls.oid) == (7, protocol.START_TLS)


def nested(levels: int) -> bytes:
    inner = bytes.fromhex("870b6f626a656374436c617373")  # present: the primitive tag ldap3 had wrong
    for _ in range(levels):
        inner = b"\xa2\x83" + len(inner).to_bytes(3, "big") + inner
    body = bytes.fromhex("04000a01020a0100020100020100010100") + inner + bytes.fromhex("3000")
    op = b"\x63\x83" + len(body).to_bytes(3, "big") + body
    msg = bytes.fromhex("020102") + op
    return b"\x30\x83" + len(msg).to_bytes(3, "big") + msg


def test_nested_filters_decode_until_they_are_absurd():
    assert protocol.decode_request(nested(20)).op == "searchRequest"
    with pytest.raises(Malformed, match="bad_ber"):
        protocol.decode_request(nested(5000))


@pytest.mark.parametrize(
    ("pdu", "reason"),
    [
        (BIND + b"\x00", "trailing_bytes"),
        (BIND[:-1], "bad_ber"),
        (BIND.replace(b"\x02\x01\x01\x60", b"\x02\x01\x00\x60", 1), "message_id_zero"),
        (bytes.fromhex("300c02010161070a013104000400"), "not_a_request"),  # a bindResponse
        (BIND.replace(b"uid=alice", b"uid=al\xffce", 1), "not_utf8"),
        (b"\x30\x05\x02\x01\x01\x63\x00", "bad_ber"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(pdu, reason):
    with pytest.raises(Malformed) as e:
        protocol.decode_request(pdu)
    assert e.value.reason == reason


@given(st.binary(max_size=300))
def test_any_bytes_either_decode_or_are_malformed(data):
    framer = Framer(1024)
    framer.feed(b"\x30" + bytes([len(data)]) + data if len(data) < 128 else data)
    try:
        pdu = framer.next()
        if pdu is not None:
            protocol.decode_request(pdu)
    except Malformed:
        pass


def test_responses_known_answers():
    bind = protocol.decode_request(BIND)
    # LDAPMessage { 1, bindResponse { invalidCredentials, "", "" } }
    assert protocol.response(bind, 49) == bytes.fromhex("300c02010161070a013104000400")
    search = protocol.decode_request(SEARCH)
    assert protocol.response(search, 50, "x") == bytes.fromhex("300d02010265080a013204000401") + b"x"
    assert protocol.result_code(protocol.response(search, 51)) == (2, "searchResDone", 51)
    notice = protocol.notice_of_disconnection(protocol.PROTOCOL_ERROR, "bad")
    assert protocol.result_code(notice) == (0, "extendedResp", 2)
    assert protocol.NOTICE_OF_DISCONNECTION.encode() in notice
    ok = protocol.extended_response(5, 0, protocol.START_TLS)
    assert protocol.result_code(ok) == (5, "extendedResp", 0) and protocol.START_TLS.encode() in ok


def test_framer_cuts_whole_messages_from_any_split():
    stream = BIND + SEARCH + UNBIND
    for cut in range(len(stream) + 1):
        framer = Framer(4096)
        out = []
        for part in (stream[:cut], stream[cut:]):
            framer.feed(part)
            while (pdu := framer.next()) is not None:
                out.append(pdu)
        assert out == [BIND, SEARCH, UNBIND] and framer.pending == 0


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"\x04\x03abc", "not_a_sequence"),
        (b"\x30\x80", "indefinite_length"),
        (b"\x30\x85\x01\x00\x00\x00\x00", "length_too_long"),
        (b"\x30\x82\x10\x01", "too_large"),  # 4097 octets announced: refused before they come
    ],
)
def test_framer_refuses_from_the_header(head, reason):
    framer = Framer(4096)
    framer.feed(head)
    with pytest.raises(Malformed) as e:
        framer.next()
    assert e.value.reason == reason


def test_peek_reads_message_id_and_operation():
    assert ber.peek(BIND) == (1, 0x60)
    assert ber.peek(SEARCH) == (2, 0x63)
    big_id = bytes.fromhex("300e0203012345" "61070a013104000400")  # messageID 74565, a bindResponse
    assert ber.peek(big_id) == (0x012345, 0x61)
    with pytest.raises(Malformed):
        ber.peek(b"\x30\x03\x04\x01\x00")


def test_framing_decoding_and_names_do_no_io():
    """ber.py, protocol.py and names.py are pure: of ldap3 they use the ASN.1
    module, the DN parser and its exceptions, never a connection."""
    import ast
    from pathlib import Path

    package = Path(protocol.__file__).parent
    forbidden = {"asyncio", "socket", "ssl", "sqlite3", "asyncpg", "aiohttp", "time", "subprocess", "threading"}
    allowed_ldap3 = {"ldap3.protocol", "ldap3.utils.dn", "ldap3.core.exceptions"}
    for name in ("ber.py", "protocol.py", "names.py"):
        modules = set()
        for node in ast.walk(ast.parse((package / name).read_text())):
            if isinstance(node, ast.Import):
                modules.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
        assert not {m.split(".")[0] for m in modules} & forbidden, name
        assert {m for m in modules if m.startswith("ldap3")} <= allowed_ldap3, name
