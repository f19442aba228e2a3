"""Custom messages (seed 000): the texts and recordings radmfa sends users.

Every message radmfa sends (the SMS text, the call's greeting and prompt,
the challenge prompts, the push and e-mail texts) has a built-in English
default below. An operator may replace any of them per language and per
client (`radmfa message add`); the store holds the replacements, so every
worker and node sends the same. A message is looked up from the most to the
least specific:

    (language, client) → (language, any client)
    → (language's primary subtag, client) → (primary subtag, any client)   e.g. de-CH → de
    → (default set, client) → (default set, any client) → built-in text

Templates hold placeholders: ``{code}``, ``{app}``, ``{user}``, ``{minutes}``,
``{menu}`` and ``{fraud_code}``, each allowed only for the kinds where it
means something (PLACEHOLDERS). A template naming anything else is refused
when it is added (check_template), never when a message is sent. Filling
walks the template with string.Formatter.parse and substitutes bare names
only, never ``str.format``: ``{code.__class__}`` or ``{code[0]}`` reach no
attribute or item, and a value containing braces is inserted as it is.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from radmfa.core.model import MESSAGE_KINDS, VOICE_KINDS, CustomMessage
from radmfa.core.ports import MessageLookup
from radmfa.errors import RadmfaError

if TYPE_CHECKING:
    from radmfa.config import ClientPolicy

# The seed product's limit for custom voice messages.
MAX_VOICE_BYTES: Final = 5 * 1024 * 1024
# Where radmfa's HTTP service serves a recording ({id} = the message's id).
VOICE_PATH: Final = "/voice/{id}"

PLACEHOLDERS: Final[Mapping[str, frozenset[str]]] = {
    "sms": frozenset({"code", "app", "user", "minutes"}),
    "voice_greeting": frozenset({"app", "user"}),
    "voice_prompt": frozenset({"app", "user", "fraud_code"}),
    "challenge_menu": frozenset({"menu", "app", "user"}),
    "challenge_code": frozenset({"app", "user", "minutes"}),
    "push_title": frozenset({"app", "user"}),
    "push_text": frozenset({"app", "user"}),
    "email_subject": frozenset({"app", "user"}),
    "email_body": frozenset({"code", "app", "user", "minutes"}),
}

# A text without these would not do its job (a code text with no code).
REQUIRED: Final[Mapping[str, str]] = {"sms": "code", "email_body": "code", "challenge_menu": "menu"}

# English, plain, and short enough for the medium: the SMS stays one GSM-7
# segment (160 characters) with an 8-digit code and an app name of up to 80.
BUILTIN: Final[Mapping[str, str]] = {
    "sms": "Your {app} sign-in code is {code}. Valid {minutes} minutes. Do not share it.",
    "voice_greeting": "Hello. This is a sign-in verification call from {app}.",
    "voice_prompt": (
        "If you are signing in to {app}, press the pound key to finish. "
        "If you did not try to sign in, press {fraud_code} to report fraud, or hang up."
    ),
    "challenge_menu": "Enter your code, or choose: {menu}",
    "challenge_code": "Enter the sign-in code we sent you:",
    "push_title": "{app} sign-in request",
    "push_text": "Are you signing in to {app} as {user}? Approve only if it is you.",
    "email_subject": "Your {app} sign-in code",
    "email_body": (
        "Hello,\n\n"
        "Your {app} sign-in code is {code}. It is valid for {minutes} minutes and works once.\n\n"
        "If you did not try to sign in, do not share this code and tell your IT helpdesk.\n"
    ),
}

# Values a caller may leave out. {app} defaults to the client's name.
DEFAULT_VALUES: Final[Mapping[str, str]] = {"minutes": "5", "fraud_code": "zero, then pound"}

# Longest template an operator may add, in characters; a message that goes out
# as one RADIUS Reply-Message is limited in octets (RFC 2865 §5.18: 253).
MAX_CHARS: Final[Mapping[str, int]] = {
    "sms": 612,  # four concatenated GSM-7 segments (3GPP TS 23.040)
    "voice_greeting": 1000,
    "voice_prompt": 1000,
    "push_title": 200,
    "push_text": 1000,
    "email_subject": 200,
    "email_body": 10_000,
}
REPLY_MESSAGE_KINDS: Final = ("challenge_menu", "challenge_code")
# A line break in these would start a new mail header (or a second title line).
SINGLE_LINE_KINDS: Final = ("email_subject", "push_title")

_FORMATTER = string.Formatter()
_KEY_WORDS: Final = dict(zip("0123456789#*", (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "pound", "star",
), strict=True))
# GSM 03.38 default alphabet (no escape table): what fits 160 to a segment.
GSM7: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


class MessageError(RadmfaError):
    """A message or recording an operator tried to add is not usable (the text says why)."""


# -- sending ---------------------------------------------------------------------


async def render(
    store: MessageLookup, kind: str, *, language: str | None, client: str, values: Mapping[str, str]
) -> str:
    """The text of message ``kind`` for a user of ``language`` on ``client``,
    with ``values`` filled in (``app``: app_name(policy, client); ``code``,
    ``user``, ``minutes``, ``menu``, ``fraud_code`` (spoken_keys) as the kind
    uses them).

    Never raises on what users or operators typed; only an unknown ``kind``
    (a programming error) or a store failure raises.
    """
    _check_kind(kind)
    candidates = lookup_order(language, client)
    found = await store.find_messages(kind, _languages(candidates), _clients(candidates))
    best = _best([m for m in found if m.text is not None], candidates)
    template = best.text if best is not None and best.text is not None else BUILTIN[kind]
    return fill(kind, template, client=client, values=values)


async def voice_file_url(
    store: MessageLookup, kind: str, *, language: str | None, client: str, public_url: str
) -> str | None:
    """The URL radmfa serves the recording at, when the most specific message
    for this user and client is a recording (TwiML ``<Play>``); None when it
    is text, or there is none (``<Say>`` what render() gives)."""
    if kind not in VOICE_KINDS:
        raise ValueError(f"{kind!r} is not a voice message kind")
    candidates = lookup_order(language, client)
    best = _best(await store.find_messages(kind, _languages(candidates), _clients(candidates)), candidates)
    if best is None or best.audio_type is None or best.id is None:
        return None
    return public_url.rstrip("/") + VOICE_PATH.format(id=best.id)


async def voice_file(store: MessageLookup, file_id: int) -> tuple[bytes, str] | None:
    """The recording and its content type, for the HTTP handler of VOICE_PATH."""
    return await store.voice_file(file_id)


def app_name(policy: ClientPolicy | None, client: str) -> str:
    """``{app}`` for a request from ``client``: its ``[clients.<name>] app_name``, else its name."""
    return (policy.app_name if policy is not None else "") or client


def spoken_keys(keys: str) -> str:
    """Keypad keys as a text-to-speech voice should say them, for
    ``{fraud_code}``: "0#" → "zero, then pound"."""
    words = [_KEY_WORDS.get(k, k) for k in keys]
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + ", then " + words[-1]


def lookup_order(language: str | None, client: str) -> list[tuple[str, str]]:
    """(language, client) pairs from the most to the least specific ("" = default / any)."""
    languages: list[str] = []
    tag = normal_language(language or "")
    while tag:
        languages.append(tag)
        tag = tag.rpartition("-")[0]  # de-ch → de (RFC 4647 §3.4 lookup, truncating)
    languages.append("")
    clients = [client, ""] if client else [""]
    return [(lang, name) for lang in languages for name in clients]


def normal_language(tag: str) -> str:
    """BCP 47 tags compare case-insensitively (RFC 5646 §2.1.1); '_' is a common typo for '-'."""
    return tag.strip().replace("_", "-").lower()


def fill(kind: str, template: str, *, client: str, values: Mapping[str, str]) -> str:
    """Substitute the placeholders ``kind`` allows; anything else becomes empty."""
    data = {"app": client, **DEFAULT_VALUES}
    data.update({key: _flat(str(value)) for key, value in values.items()})
    allowed = PLACEHOLDERS[kind]
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError:  # a template that bypassed check_template (edited in the database)
        if template == BUILTIN[kind]:
            raise
        return fill(kind, BUILTIN[kind], client=client, values=values)
    out: list[str] = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is not None and field in allowed and not spec and conversion is None:
            out.append(data.get(field, ""))
    return "".join(out)


def _flat(value: str) -> str:
    # A value comes from users and directories: a line break in it must not
    # start a mail header or a second Reply-Message line.
    return "".join(c if c.isprintable() else " " for c in value)


def _best(found: list[CustomMessage], candidates: list[tuple[str, str]]) -> CustomMessage | None:
    rank = {pair: i for i, pair in enumerate(candidates)}
    usable = [m for m in found if (m.language, m.client) in rank]
    return min(usable, key=lambda m: rank[(m.language, m.client)], default=None)


def _languages(candidates: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(lang for lang, _ in candidates))


def _clients(candidates: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(name for _, name in candidates))


def _check_kind(kind: str) -> None:
    if kind not in MESSAGE_KINDS:
        raise ValueError(f"{kind!r} is not a message kind")


# -- adding ------------------------------------------------------------------------


def check_template(kind: str, text: str) -> None:
    """Refuse a template that could not be sent as written: unknown kind,
    unknown or decorated placeholder, unbalanced braces, too long, or a line
    break where the medium has one line. Raises MessageError."""
    if kind not in MESSAGE_KINDS:
        raise MessageError(f"{kind!r} is not a message kind: use one of {', '.join(MESSAGE_KINDS)}")
    if not text.strip():
        raise MessageError(f"the {kind} message is empty")
    allowed = PLACEHOLDERS[kind]
    names = ", ".join("{" + n + "}" for n in sorted(allowed))
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError as e:
        raise MessageError(
            f"the {kind} message has unbalanced braces ({e}); write {{{{ and }}}} for a literal brace"
        ) from None
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if field not in allowed:
            raise MessageError(f"unknown placeholder {shown} in the {kind} message: it may use {names}")
        if spec or conversion:
            raise MessageError(f"placeholder {shown} in the {kind} message: write it as {{{field}}}, plain")
    required = REQUIRED.get(kind)
    if required is not None and not any(field == required for _, field, _, _ in parts):
        raise MessageError(f"the {kind} message must contain {{{required}}}")
    _check_length(kind, text)
    if kind in SINGLE_LINE_KINDS and any(c in text for c in "\r\n"):
        raise MessageError(f"the {kind} message must be one line")
    if any(not c.isprintable() and c not in "\r\n\t" for c in text):
        raise MessageError(f"the {kind} message contains control characters")


def _check_length(kind: str, text: str) -> None:
    if kind in REPLY_MESSAGE_KINDS:
        # Placeholders are replaced, so measure the literal text; the pipeline
        # fits the filled prompt into 253 octets (RFC 2865 §5.18).
        literal = "".join(lit for lit, *_ in _FORMATTER.parse(text)).encode()
        if len(literal) > 253:
            raise MessageError(
                f"the {kind} message is {len(literal)} octets without its placeholders; "
                "a Reply-Message holds 253 (RFC 2865 §5.18)"
            )
    elif len(text) > MAX_CHARS[kind]:
        raise MessageError(f"the {kind} message is {len(text)} characters; at most {MAX_CHARS[kind]}")


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes: GSM-7 fits 160 (153 when
    concatenated), anything else is UCS-2 at 70 (67) (3GPP TS 23.038/23.040)."""
    gsm = all(c in GSM7 for c in text)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // multi)


def audio_type(data: bytes, filename: str) -> str:
    """The content type of a recording, from its first bytes. Raises
    MessageError for anything but WAV or MP3, an empty file or one over 5 MB."""
    check_voice_size(len(data), filename)
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    # An MP3 starts with an ID3v2 tag or straight with an MPEG audio frame
    # header: 11 sync bits set, and a layer that is not the reserved 00.
    if data[:3] == b"ID3" or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06):
        return "audio/mpeg"
    raise MessageError(f"{filename} is not a WAV or MP3 file (its first bytes say otherwise)")


def check_voice_size(size: int, filename: str) -> None:
    if size > MAX_VOICE_BYTES:
        raise MessageError(
            f"{filename} is {size / 1048576:.1f} MB; a voice message may be at most 5 MB "
            "(and should last under 20 seconds)"
        )
