"""Plain rules with no I/O: inline codes, prompts, reply filtering."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable

from radmfa.core.model import Attr
from radmfa.radius.packet import HOP_BY_HOP

MAX_TEXT = 253  # one Reply-Message (RFC 2865 §5.18)


def split_inline(password: bytes, delimiter: bytes, code_lengths: Iterable[int]) -> tuple[bytes, bytes] | None:
    """'password,123456' → (b'password', b'123456') when the part after the
    last delimiter is all digits of an enrolled token's length; else None."""
    head, sep, tail = password.rpartition(delimiter)
    if not sep or not tail.isdigit() or len(tail) not in set(code_lengths):
        return None
    return head, tail


def fit_text(text: str, limit: int = MAX_TEXT) -> bytes:
    """Truncate to ``limit`` octets without cutting a UTF-8 sequence."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


def authorization_attrs(attrs: Iterable[Attr]) -> tuple[Attr, ...]:
    """What an upstream Access-Accept gives the NAS: everything but its
    State, Proxy-State and Message-Authenticator."""
    return tuple((t, v) for t, v in attrs if t not in HOP_BY_HOP)


def decode_name(username: bytes | None) -> str | None:
    """User-Name as a store key; None when absent or not UTF-8."""
    if not username:
        return None
    try:
        return username.decode("utf-8")
    except UnicodeDecodeError:
        return None


def name_key(name: str) -> str:
    """The canonical form users are looked up by, so that ``ALICE``,
    ``alice@corp.example``, ``CORP\\alice`` and full-width ``ａｌｉｃｅ`` all
    name the enrolled ``alice`` (an exact match would let them in as
    "unknown", with no second factor).

    NFKC first (UAX #15 compatibility forms), so composed and decomposed
    spellings agree and full-width or ligature letters are their plain ones, as
    directories treat them (RFC 4518 §2.2; AD ignores width); then everything
    up to the last backslash (a Windows ``DOMAIN\\``) and from the last ``@``
    (a realm) goes; then Unicode case folding, not ``lower()`` (``Straße`` and
    ``STRASSE`` are one name), NFKC again (folding can denormalise); then
    surrounding whitespace. Changing this needs a migration that re-keys
    users.name_key (store/schema.py backfill, migrations 0002 and 0012).
    """
    name = unicodedata.normalize("NFKC", name)
    name = name.rpartition("\\")[2]
    head, at, _ = name.rpartition("@")
    if at:
        name = head
    return unicodedata.normalize("NFKC", name.casefold()).strip()


_PHONE_PUNCTUATION = str.maketrans("", "", " -.()/")


def e164(text: str) -> str:
    """A phone number as E.164 (``+`` and 7..15 digits, ITU-T E.164 §6),
    after dropping the spaces, dashes, dots, slashes and parentheses people
    write numbers with. Raises ValueError naming the rule."""
    number = text.translate(_PHONE_PUNCTUATION)
    digits = number[1:]
    if not number.startswith("+") or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{text!r} is not an E.164 number: write + and the country code, e.g. +14155550100")
    if not 7 <= len(digits) <= 15 or digits[0] == "0":
        raise ValueError(f"{text!r} is not an E.164 number: a country code (not 0) and 7 to 15 digits in all")
    return number


# One mailbox as people give one (RFC 5322 addr-spec, dot-atom form): a local
# part without spaces, quotes or the characters that start another address or
# header (, ; < > ( ) [ ] \ "), one @, and a domain of dot-separated labels.
_EMAIL_LOCAL = re.compile(r"[^\s@,;<>()\[\]\\\"]+")
_EMAIL_LABEL = re.compile(r"[^\W_]((?:[^\W_]|-)*[^\W_])?")


def email_address(text: str) -> str:
    """One e-mail address such as ``alice@example.com``, as given; raises
    ValueError naming the rule (a code mailed there must reach one person)."""
    local, at, domain = text.partition("@")
    labels = domain.split(".")
    if (
        not at
        or not _EMAIL_LOCAL.fullmatch(local)
        or ".." in local
        or len(labels) < 2
        or not all(_EMAIL_LABEL.fullmatch(label) for label in labels)
        or len(text.encode("utf-8")) > 254  # RFC 5321 §4.5.3.1.3: a path holds at most 256 octets
    ):
        raise ValueError(f"{text!r} is not an e-mail address: give one address such as alice@example.com")
    return text


_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")


def language_tag(text: str) -> str:
    """A BCP 47 language tag as radmfa's message sets use them (``en``,
    ``de-CH``, ``pt-BR``); raises ValueError naming the rule."""
    if not _LANGUAGE.fullmatch(text):
        raise ValueError(f"{text!r} is not a language tag such as en, de or pt-BR")
    return text


def printable(value: bytes | None) -> str:
    """A log-safe rendering of a text attribute (never used for secrets)."""
    if value is None:
        return ""
    return value.decode("utf-8", "backslashreplace")[:253]


# users.blocked_reason → the audit reason of a rejected login. fraud.py sets
# "fraud"; the wrong-code lockout sets "lockout"; anything else (an
# administrator's block) reads plain "blocked".
_FRAMED_IP_ADDRESS = 8  # RFC 2865 §5.8: 4 octets
_CALLING_STATION_ID = 31  # RFC 2865 §5.31: text, an IP address for VPNs


def user_ip(attrs: Iterable[Attr], attribute: str, source: str) -> str:
    """The end user's address as the client's ``user_ip_attribute`` gives it
    (config.USER_IP_ATTRIBUTES): "" when the attribute is absent or holds no
    IP address (a Calling-Station-Id may be a MAC or phone number)."""
    if attribute == "source":
        return source
    wanted = _FRAMED_IP_ADDRESS if attribute == "Framed-IP-Address" else _CALLING_STATION_ID
    value = next((v for t, v in attrs if t == wanted), None)
    if value is None:
        return ""
    if wanted == _FRAMED_IP_ADDRESS:
        return str(ipaddress.IPv4Address(value)) if len(value) == 4 else ""
    try:
        return str(ipaddress.ip_address(value.decode("ascii").strip()))
    except (UnicodeDecodeError, ValueError):
        return ""
