"""Value codecs shared by every backend: times and packed reply attributes."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from radmfa.core.model import Attr
from radmfa.errors import StoreError

# One packed attribute: type (1 byte), value length (2 bytes, big-endian), value.
# Two length bytes, not one, because a Vendor-Specific value kept whole may in
# principle exceed 253 octets once we carry RFC 6929 long extended types.
_HEAD = struct.Struct("!BH")


def to_epoch(when: datetime) -> float:
    """Seconds since the epoch. Naive datetimes are refused: their zone is a guess."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when.isoformat()}: pass a tz-aware UTC time")
    return when.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def pack_attrs(attrs: tuple[Attr, ...]) -> bytes:
    parts = []
    for kind, value in attrs:
        if not 0 <= kind <= 0xFF or len(value) > 0xFFFF:
            raise ValueError(f"attribute type {kind} with {len(value)} octets cannot be stored")
        parts.append(_HEAD.pack(kind, len(value)))
        parts.append(value)
    return b"".join(parts)


def unpack_attrs(packed: bytes) -> tuple[Attr, ...]:
    attrs: list[Attr] = []
    offset = 0
    while offset < len(packed):
        if offset + _HEAD.size > len(packed):
            raise StoreError("stored session reply attributes are truncated")
        kind, length = _HEAD.unpack_from(packed, offset)
        offset += _HEAD.size
        if offset + length > len(packed):
            raise StoreError("stored session reply attributes are truncated")
        attrs.append((kind, packed[offset : offset + length]))
        offset += length
    return tuple(attrs)
