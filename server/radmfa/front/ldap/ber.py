"""Framing LDAP messages on a TCP byte stream, before any decoding.

An LDAPMessage is one BER SEQUENCE with a definite length (RFC 4511 §5.1:
"Only the definite form of length encoding is used"). ``Framer`` cuts the
stream into whole messages and refuses, from the header alone, one that is
not a SEQUENCE, has an indefinite or absurd length, or is larger than the
configured limit, so a hostile peer never makes us buffer more than that.
The contents are decoded elsewhere (protocol.py, pyasn1).

``peek`` reads a message's messageID and protocolOp tag without decoding
the rest: enough to relay the directory's responses unchanged and to know
when an operation is complete (X.690 §8.1.2-8.1.3 for the tag and length).
"""

from __future__ import annotations

SEQUENCE = 0x30
INTEGER = 0x02
MAX_LENGTH_OCTETS = 4  # 2**32 - 1 octets: far above any sane limit; more is garbage

# protocolOp tags (APPLICATION class) of responses that do not end an
# operation: a search's entries and references, intermediate responses.
SEARCH_RESULT_ENTRY = 0x64
SEARCH_RESULT_REFERENCE = 0x73
INTERMEDIATE_RESPONSE = 0x79
NOT_FINAL = frozenset((SEARCH_RESULT_ENTRY, SEARCH_RESULT_REFERENCE, INTERMEDIATE_RESPONSE))


class Malformed(Exception):
    """The bytes break a framing rule; ``reason`` is a counter label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(buf: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """(length of the contents, offset of the contents) of the TLV whose tag
    is at ``offset``; None when the header is not complete yet."""
    if len(buf) < offset + 2:
        return None
    first = buf[offset + 1]
    if first < 0x80:  # short form, X.690 §8.1.3.4
        return first, offset + 2
    count = first & 0x7F
    if count == 0:  # the indefinite form, X.690 §8.1.3.6
        raise Malformed("indefinite_length")
    if count > MAX_LENGTH_OCTETS:
        raise Malformed("length_too_long")
    if len(buf) < offset + 2 + count:
        return None
    return int.from_bytes(buf[offset + 2 : offset + 2 + count], "big"), offset + 2 + count


def message_size(buf: bytes | bytearray, limit: int) -> int | None:
    """The size of the whole LDAPMessage at the start of ``buf``, from its
    header alone; None until the header is complete."""
    if not buf:
        return None
    if buf[0] != SEQUENCE:
        raise Malformed("not_a_sequence")
    header = _header(buf, 0)
    if header is None:
        return None
    size = header[0] + header[1]
    if size > limit:
        raise Malformed("too_large")
    return size


class Framer:
    """Feed bytes as they arrive; take whole messages out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole message."""
        return len(self._buf)

    def next(self) -> bytes | None:
        size = message_size(self._buf, self.limit)
        if size is None or len(self._buf) < size:
            return None
        message = bytes(self._buf[:size])
        del self._buf[:size]
        return message


def peek(message: bytes) -> tuple[int, int]:
    """(messageID, protocolOp tag) of a whole LDAPMessage (RFC 4511 §4.1.1)."""
    outer = _header(message, 0)
    if outer is None or message[0] != SEQUENCE:
        raise Malformed("truncated")
    offset = outer[1]
    if offset >= len(message) or message[offset] != INTEGER:
        raise Malformed("no_message_id")
    inner = _header(message, offset)
    if inner is None or not 1 <= inner[0] <= 4 or inner[1] + inner[0] >= len(message):
        raise Malformed("bad_message_id")
    length, start = inner
    message_id = int.from_bytes(message[start : start + length], "big", signed=True)
    return message_id, message[start + length]
