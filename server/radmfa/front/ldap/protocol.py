"""LDAPv3 messages (RFC 4511) in and out, with pyasn1 and ldap3's ASN.1 module.

Every request a client sends is decoded in full against RFC 4511's ASN.1
(Appendix B, as ldap3.protocol.rfc4511 spells it in pyasn1), so a message
that does not fit it is refused before anything acts on it or forwards it.
A request that fits is kept as the bytes received: what is forwarded to the
directory is exactly what the client sent.

ldap3's module is written for a client that encodes; one tag in it is wrong
for decoding what real clients send: ``present [7] AttributeDescription``
is an OCTET STRING, primitive (0x87, X.690 §8.7.1), not constructed. The
filter types that contain it are restated here with that tag fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ldap3.protocol import rfc4511 as spec
from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1.type.namedtype import NamedType, NamedTypes
from pyasn1.type.tag import Tag, tagClassContext, tagFormatConstructed, tagFormatSimple

from radmfa.front.ldap.ber import Malformed

START_TLS = "1.3.6.1.4.1.1466.20037"  # RFC 4511 §4.14
NOTICE_OF_DISCONNECTION = "1.3.6.1.4.1.1466.20036"  # RFC 4511 §4.4.1

# Result codes, RFC 4511 Appendix A.
SUCCESS = 0
OPERATIONS_ERROR = 1
PROTOCOL_ERROR = 2
AUTH_METHOD_NOT_SUPPORTED = 7
CONFIDENTIALITY_REQUIRED = 13
INAPPROPRIATE_AUTHENTICATION = 48
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
BUSY = 51
UNAVAILABLE = 52
UNWILLING_TO_PERFORM = 53

# The response a request is answered with (RFC 4511 §4.2-§4.12).
RESPONSE_OF = {
    "bindRequest": "bindResponse",
    "searchRequest": "searchResDone",
    "modifyRequest": "modifyResponse",
    "addRequest": "addResponse",
    "delRequest": "delResponse",
    "modDNRequest": "modDNResponse",
    "compareRequest": "compareResponse",
    "extendedReq": "extendedResp",
}
# Requests with no response: unbind (§4.3) and abandon (§4.11).
SILENT = ("unbindRequest", "abandonRequest")


# -- RFC 4511 §4.5.1 Filter, with the primitive tag of `present` -----------------
#
# Filter is recursive (and, or, not hold filters) and pyasn1 decodes against
# schema *instances*, each holding its components as it was built: the
# branches find the one Filter instance through a property, read when a
# message is decoded. A filter nested deeper than Python's recursion allows
# is malformed (RecursionError is caught with the other decoding errors).

_NOT_TAG = Tag(tagClassContext, tagFormatConstructed, 2)  # `not [2] Filter`: explicit, X.680 §31.2.7
_FILTER: dict[str, Any] = {}  # "filter": the Filter instance; "not": what `not` holds


def _inner(_self: object) -> Any:
    return _FILTER.get("filter")


def _not_inner(_self: object) -> NamedTypes:
    return _FILTER.get("not") or NamedTypes()


class _Present(spec.AttributeDescription):  # type: ignore[misc]
    tagSet = spec.AttributeDescription.tagSet.tagImplicitly(Tag(tagClassContext, tagFormatSimple, 7))


class _And(univ.SetOf):  # type: ignore[misc]
    tagSet = spec.And.tagSet
    subtypeSpec = spec.And.subtypeSpec
    componentType = property(_inner)


class _Or(univ.SetOf):  # type: ignore[misc]
    tagSet = spec.Or.tagSet
    subtypeSpec = spec.Or.subtypeSpec
    componentType = property(_inner)


class _Not(univ.Choice):  # type: ignore[misc]
    tagSet = univ.Choice.tagSet.tagExplicitly(_NOT_TAG)
    componentType = property(_not_inner)


class _Filter(univ.Choice):  # type: ignore[misc]
    componentType = NamedTypes(
        NamedType("and", _And()),
        NamedType("or", _Or()),
        NamedType("notFilter", _Not()),
        NamedType("equalityMatch", spec.EqualityMatch()),
        NamedType("substringFilter", spec.SubstringFilter()),
        NamedType("greaterOrEqual", spec.GreaterOrEqual()),
        NamedType("lessOrEqual", spec.LessOrEqual()),
        NamedType("present", _Present()),
        NamedType("approxMatch", spec.ApproxMatch()),
        NamedType("extensibleMatch", spec.ExtensibleMatch()),
    )


_FILTER["filter"] = _Filter()
_FILTER["not"] = NamedTypes(NamedType("innerNotFilter", _FILTER["filter"]))


class _SearchRequest(univ.Sequence):  # type: ignore[misc]
    tagSet = spec.SearchRequest.tagSet
    componentType = NamedTypes(
        *(
            NamedType(t.name, _Filter() if t.name == "filter" else t.asn1Object)
            for t in spec.SearchRequest.componentType.namedTypes
        )
    )


class _ProtocolOp(univ.Choice):  # type: ignore[misc]
    componentType = NamedTypes(
        *(
            NamedType(t.name, _SearchRequest() if t.name == "searchRequest" else t.asn1Object)
            for t in spec.ProtocolOp.componentType.namedTypes
        )
    )


class _LDAPMessage(univ.Sequence):  # type: ignore[misc]
    componentType = NamedTypes(
        NamedType("messageID", spec.MessageID()),
        NamedType("protocolOp", _ProtocolOp()),
        spec.LDAPMessage.componentType.namedTypes[2],  # controls [0] OPTIONAL
    )


# -- requests --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bind:
    """A BindRequest (RFC 4511 §4.2). ``method`` is "simple" or the name of
    another AuthenticationChoice (sasl, …), which radmfa does not offer."""

    version: int
    name: str
    password: bytes  # the simple credentials; never logged
    method: str

    def __repr__(self) -> str:
        return f"Bind(version={self.version}, name={self.name!r}, method={self.method!r})"


@dataclass(frozen=True, slots=True)
class Request:
    """One decoded request; ``pdu`` is the message exactly as received."""

    message_id: int
    op: str  # the protocolOp choice: "bindRequest", "searchRequest", …
    pdu: bytes
    bind: Bind | None = None
    oid: str = ""  # an extended request's requestName
    abandon: int | None = None  # the messageID an abandonRequest names

    def __repr__(self) -> str:
        return f"Request(message_id={self.message_id}, op={self.op!r})"


def _text(value: univ.OctetString) -> str:
    try:
        return bytes(value).decode("utf-8")  # LDAPString is UTF-8 (RFC 4511 §4.1.2)
    except UnicodeDecodeError:
        raise Malformed("not_utf8") from None


def decode_request(pdu: bytes) -> Request:
    """A whole LDAPMessage from a client, or Malformed."""
    try:
        message, rest = decoder.decode(pdu, asn1Spec=_LDAPMessage())
    except (PyAsn1Error, ValueError, TypeError, IndexError, RecursionError):
        raise Malformed("bad_ber") from None
    if rest:
        raise Malformed("trailing_bytes")
    op = message["protocolOp"].getName()
    if op not in RESPONSE_OF and op not in SILENT:
        raise Malformed("not_a_request")  # a response, or nothing we know
    body = message["protocolOp"].getComponent()
    message_id = int(message["messageID"])
    if message_id == 0:
        raise Malformed("message_id_zero")  # reserved for unsolicited notifications (§4.1.1.1)
    if op == "bindRequest":
        auth = body["authentication"]
        method = auth.getName()
        password = bytes(auth.getComponent()) if method == "simple" else b""
        bind = Bind(int(body["version"]), _text(body["name"]), password, method)
        return Request(message_id, op, pdu, bind=bind)
    if op == "extendedReq":
        return Request(message_id, op, pdu, oid=_text(body["requestName"]))
    if op == "abandonRequest":
        return Request(message_id, op, pdu, abandon=int(body))
    return Request(message_id, op, pdu)


# -- responses -------------------------------------------------------------------


def _message(message_id: int, op: str, body: univ.Asn1Item) -> bytes:
    message = spec.LDAPMessage()
    message["messageID"] = message_id
    choice = spec.ProtocolOp()
    choice.setComponentByName(op, body)
    message["protocolOp"] = choice
    return bytes(encoder.encode(message))


def _result(kind: type[univ.Sequence], code: int, text: str) -> univ.Sequence:
    body = kind()
    body["resultCode"] = code
    body["matchedDN"] = ""
    body["diagnosticMessage"] = text
    return body


def response(request: Request, code: int, text: str = "") -> bytes:
    """The response to ``request`` that ends it with ``code`` (RFC 4511 §4.1.9)."""
    op = RESPONSE_OF[request.op]
    kind = spec.ProtocolOp.componentType[op].asn1Object.__class__
    return _message(request.message_id, op, _result(kind, code, text))


def extended_response(message_id: int, code: int, name: str = "", text: str = "") -> bytes:
    body = _result(spec.ExtendedResponse, code, text)
    if name:
        body["responseName"] = name
    return _message(message_id, "extendedResp", body)


def notice_of_disconnection(code: int, text: str) -> bytes:
    """RFC 4511 §4.4.1: unsolicited (messageID 0), then the server closes."""
    return extended_response(0, code, NOTICE_OF_DISCONNECTION, text)


# -- what radmfa itself sends to the directory -------------------------------------


def bind_request(message_id: int, name: str, password: bytes) -> bytes:
    body = spec.BindRequest()
    body["version"] = 3
    body["name"] = name
    auth = spec.AuthenticationChoice()
    auth.setComponentByName("simple", password)
    body["authentication"] = auth
    return _message(message_id, "bindRequest", body)


def start_tls_request(message_id: int) -> bytes:
    body = spec.ExtendedRequest()
    body["requestName"] = START_TLS
    return _message(message_id, "extendedReq", body)


def result_code(pdu: bytes) -> tuple[int, str, int]:
    """(messageID, response op, resultCode) of a response from the directory."""
    try:
        message, _ = decoder.decode(pdu, asn1Spec=spec.LDAPMessage())
        op = message["protocolOp"].getName()
        return int(message["messageID"]), op, int(message["protocolOp"].getComponent()["resultCode"])
    except (PyAsn1Error, ValueError, TypeError, IndexError, KeyError):
        raise Malformed("bad_response") from None
