"""Bind names: DNs compared and read without asking the directory.

A simple bind names a DN (RFC 4511 §4.2: "the name of the Directory object
that the client wishes to bind as"); Active Directory also takes a user
principal name (alice@corp.example) or a down-level name (CORP\\alice).
These helpers tell the forms apart, compare DNs the way directories do for
the attributes that name users and services (RFC 4514 syntax, attribute
types case-insensitive, values compared case-insensitively after removing
the escapes), and read a user name out of a DN's first RDN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

Rdn = tuple[tuple[str, str], ...]
_HEX_PAIR = re.compile(r"\\([0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a bind is for: ``name`` as the store and the upstream know the
    user, ``dn`` what the user's own bind to the directory names."""

    name: str
    dn: str


def parse(dn: str) -> tuple[Rdn, ...] | None:
    """The RDNs of ``dn`` with types case-folded and values unescaped, or
    None when it is not a DN (``alice``, ``alice@corp.example``, ``CORP\\alice``)."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPInvalidDnError:
        return None
    rdns: list[Rdn] = []
    current: list[tuple[str, str]] = []
    for attribute, value, separator in parts:
        text = unescape(value)
        if text is None:
            return None
        current.append((attribute.casefold(), text))
        if separator != "+":  # RFC 4514 §3: "+" joins the AVAs of one multi-valued RDN
            rdns.append(tuple(sorted(current)))
            current = []
    return tuple(rdns) if rdns else None


def unescape(value: str) -> str | None:
    """An attribute value of a DN string as text (RFC 4514 §3): ``\\,``
    and ``\\2C`` both mean ``,``; hex pairs are UTF-8 octets. None for the
    ``#``-prefixed BER form, which names no user."""
    if value.startswith("#"):
        return None
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and _HEX_PAIR.match(value, i):
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
            continue
        if ch == "\\" and i + 1 < len(value):
            ch = value[i + 1]
            i += 1
        out += ch.encode("utf-8")
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def key(dn: str) -> tuple[Rdn, ...] | None:
    """A DN in the form two spellings of the same DN share (case, spaces
    and escapes ignored), for comparing a bind name with configured DNs."""
    rdns = parse(dn)
    if rdns is None:
        return None
    return tuple(tuple((t, " ".join(v.split()).casefold()) for t, v in rdn) for rdn in rdns)


def under(dn: str, base: str) -> bool:
    """Is ``dn`` ``base`` or an entry below it?"""
    entry, top = key(dn), key(base)
    return entry is not None and top is not None and len(entry) >= len(top) and entry[len(entry) - len(top) :] == top


def rdn_value(dn: str, attribute: str) -> str | None:
    """The value of ``attribute`` in the first RDN (``alice`` in
    ``uid=alice,ou=people,…`` for ``uid``); None when that RDN has none."""
    rdns = parse(dn)
    if not rdns:
        return None
    values = [v for t, v in rdns[0] if t == attribute.casefold()]
    return values[0] if len(values) == 1 and values[0] else None
