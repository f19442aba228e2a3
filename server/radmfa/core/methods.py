"""Which phone factors a user can use, the challenge menu, inline keywords.

Pure: no I/O. The texts come in from core.texts (rendered by the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from radmfa.core.model import SendMethod, User

OOB_METHODS: tuple[SendMethod, ...] = ("voice", "push")  # answered on the phone while the request is held
CODE_METHODS: tuple[SendMethod, ...] = ("sms", "email")  # a code is sent and typed into the next challenge
# `password,push` etc. in `auto` mode (RFC 2865 gives one User-Password; the
# keyword rides in it after the inline delimiter).
INLINE_KEYWORDS: dict[str, SendMethod] = {
    "push": "push", "sms": "sms", "text": "sms", "call": "voice", "phone": "voice", "email": "email",
}


@dataclass(frozen=True, slots=True)
class Option:
    method: str  # a SendMethod: "sms" | "voice" | "push" | "email"
    destination: str  # E.164 number, push topic or e-mail address
    shown: str  # the destination as the menu shows it (masked)


def mask(number: str) -> str:
    """The last four digits only: the menu goes to whoever knows the password."""
    return "•••" + number[-4:]


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def options(user: User, *, methods: frozenset[str], push_topic: str) -> list[Option]:
    """In menu order: text, call the mobile, call the office phone, push, e-mail."""
    out: list[Option] = []
    if "sms" in methods and user.mobile:
        out.append(Option("sms", user.mobile, mask(user.mobile)))
    if "voice" in methods:
        out.extend(Option("voice", n, mask(n)) for n in (user.mobile, user.office_phone) if n)
    if "push" in methods and push_topic and user.push_enrolled:
        out.append(Option("push", push_topic, ""))
    if "email" in methods and user.email:
        out.append(Option("email", user.email, mask_email(user.email)))
    return out


def recorded(option: Option) -> tuple[str, str]:
    """(phone, device) an audit row records for a method's destination: the
    number texted or called; the push topic (as shown) or the e-mail address."""
    if option.method in ("sms", "voice"):
        return option.destination, ""
    return "", option.destination


def menu_recorded(available: Sequence[Option]) -> tuple[str, str]:
    """(phone, device) for the menu: the first number and the push device
    (else the e-mail address) it offers."""
    phone = next((o.destination for o in available if o.method in ("sms", "voice")), "")
    devices = [o for o in available if o.method == "push"] or [o for o in available if o.method == "email"]
    return phone, devices[0].destination if devices else ""


def default_oob(user: User, available: Sequence[Option]) -> Option | None:
    """The method `oob` mode runs at once: the user's default when it can be
    answered on the phone, else the first call or push on offer."""
    held = [o for o in available if o.method in OOB_METHODS]
    preferred = [o for o in held if o.method == user.default_method]
    chosen = preferred or held
    return chosen[0] if chosen else None


def pick(available: Sequence[Option], method: str) -> Option | None:
    return next((o for o in available if o.method == method), None)


def menu(
    available: Sequence[Option], label: Callable[[Option], str], wrap: Callable[[str], str], *, limit: int = 253
) -> tuple[str, dict[str, Option]]:
    """The menu text and what each key chooses, fitted to one Reply-Message
    (RFC 2865 §5.18, 253 octets): options are dropped from the end until the
    whole text fits; keys stay 1, 2, 3 … in order."""
    shown = list(available)
    while True:
        keys = {str(i): o for i, o in enumerate(shown, 1)}
        text = wrap(", ".join(f"{k} = {label(o)}" for k, o in keys.items()))
        if len(text.encode("utf-8")) <= limit or not shown:
            return text, keys
        shown.pop()


def split_keyword(password: bytes, delimiter: bytes) -> tuple[bytes, SendMethod] | None:
    """'secret,push' → (b'secret', 'push') for an inline method keyword."""
    head, sep, tail = password.rpartition(delimiter)
    method = INLINE_KEYWORDS.get(tail.decode("ascii", "ignore").strip().lower()) if sep else None
    return (head, method) if method else None
