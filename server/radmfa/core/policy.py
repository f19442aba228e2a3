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


MAX_NAME_OCTETS = 253  # one User-Name attribute (RFC 2865 §5.1, §5)

# Characters a directory ignores (RFC 4518 §2.2 maps them to nothing) or
# that render as nothing (Unicode Default_Ignorable_Code_Point), beyond the
# Cc/Cf/Cn categories refused as a whole: combining grapheme joiner, Hangul
# fillers, Khmer inherent vowels, Mongolian todo soft hyphen and free
# variation selectors, variation selectors, object replacement and
# replacement characters (U+FFFD is also what a lenient decoder makes of
# bytes that are not UTF-8, RFC 4518 §2.4 prohibits it).
_IGNORED = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x1806, 0x1806), (0x180B, 0x180F),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFFC, 0xFFFD), (0xE0100, 0xE01EF),
)
_SEPARATORS = "@\\"  # where name_key cuts a realm and a DOMAIN\\ off
# Names of printable ASCII only (U+0020-U+007E), nearly all of them, skip the
# per-character check: none of those characters is refused, and a regular
# expression answers that in C, not character by character.
_PLAIN_ASCII = re.compile(r"[\x20-\x7e]*").fullmatch


def _refused_character(char: str) -> str:
    """Why ``char`` has no place in a user name ("" when it has)."""
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cf":
        return "an invisible format character"
    if category == "Cs":
        return "a lone surrogate (the name was not UTF-8)"
    if category in ("Co", "Cn"):
        return "a private-use or unassigned code point"
    if category in ("Zl", "Zp") or (category == "Zs" and char != " "):
        return "a space or line break other than the plain space"
    if any(low <= ord(char) <= high for low, high in _IGNORED):
        return "a character directories ignore"
    if char not in _SEPARATORS and any(c in _SEPARATORS for c in unicodedata.normalize("NFKC", char)):
        return "a look-alike of @ or \\ that the name key would cut at"
    return ""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a user name, or None when it can.

    One rule for every way a name comes in (RADIUS User-Name, an upstream's
    answer, the CLI, directory sync): the user radmfa decides on must be the
    user the upstream authenticates. name_key folds spellings onto one user
    (case, width, DOMAIN\\, @realm), which only ever asks that user's second
    factor; what is refused are names an upstream reads as another name than
    the key does: a C server stops at NUL, LDAP drops control, format and
    ignorable characters and folds runs of spaces (RFC 4518 §2.2, §2.6.1),
    and the key strips spaces the upstream keeps.
    """
    if not name:
        return "is empty"
    plain = _PLAIN_ASCII(name) is not None  # printable ASCII: one octet a character, none refused
    if (len(name) if plain else len(name.encode("utf-8", "surrogatepass"))) > MAX_NAME_OCTETS:
        return f"is longer than {MAX_NAME_OCTETS} octets (one RADIUS User-Name)"
    if not plain:  # every printable ASCII character passes _refused_character
        for char in name:
            why = _refused_character(char)
            if why:
                return f"contains U+{ord(char):04X}, {why}"
    part = _user_part(name)
    if name != name.strip() or part != part.strip():
        return "starts or ends with a space (also next to the \\ or @ the key cuts at)"
    if "  " in (name if plain or name.isascii() else unicodedata.normalize("NFKC", name)):
        return "has two spaces in a row"
    if not part:
        return "has nothing left once a DOMAIN\\ prefix and an @realm are removed"
    return None


def decode_name(username: bytes | None) -> str | None:
    """User-Name as the name radmfa decides on; None when absent, not UTF-8
    (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF)
    or refused by name_problem."""
    if username is None:
        return None
    try:
        name = username.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if name_problem(name) else name


def _user_part(name: str) -> str:
    """name_key before its final strip."""
    if name.isascii():  # NFKC leaves ASCII as it is, and casefold is lower there
        name = name.rpartition("\\")[2]
        head, at, _ = name.rpartition("@")
        return (head if at else name).lower()
    name = unicodedata.normalize("NFKC", name)
    name = name.rpartition("\\")[2]
    head, at, _ = name.rpartition("@")
    if at:
        name = head
    return unicodedata.normalize("NFKC", name.casefold())


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
    Names that reach a login have passed name_problem.
    """
    return _user_part(name).strip()


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
    """A log-safe rendering of a text attribute (never used for secrets):
    bytes that are not UTF-8 and characters that are not printable (NUL,
    terminal escapes, invisible format characters) as backslash escapes,
    so logs, reports and the audit table (PostgreSQL text holds no NUL)
    show and keep what came."""
    if value is None:
        return ""
    text = value.decode("utf-8", "backslashreplace")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text[:253]


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
