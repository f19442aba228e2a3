"""Passing a factor in the browser: at sign-in, for a step-up before a
change, and to prove a new phone or app works ("Verify now").

The same providers and store rows as a RADIUS login: a texted or e-mailed
code is sent by PhoneFactors.send_code and checked (single use) by
check_code; a call or push is opened by PhoneFactors.begin and decided by
the provider's callback in the store, which the browser polls. A push is
always number-matched (core/push_guard.py): the page can always show the
number, so a push the user did not start cannot be approved by tapping
without looking. An app
code goes through the OtpFactor (replay guard, per-token lock). Wrong
answers at sign-in and step-up count towards the user's lockout exactly
like RADIUS ones (core.controls.Lockout).

What is in progress lives in the session's data under ``v.*`` keys.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from radmfa.config import PORTAL_CLIENT
from radmfa.core import push_guard
from radmfa.core.methods import Option, mask, mask_email
from radmfa.core.model import Phase, Token, User
from radmfa.core.ports import Factor, OobStore
from radmfa.factors.phone import PhoneFactors
from radmfa.factors.totp import matching_step
from radmfa.web.i18n import N_

__all__ = ["PORTAL_CLIENT", "Choice", "Verifier", "choices"]
CODE_METHODS = ("sms", "email")
HELD_METHODS = ("voice", "push")
WRONG_NUMBER = "wrong number"  # a state of poll()


@dataclass(frozen=True, slots=True)
class Choice:
    """One way this user can prove it is them."""

    key: str  # "totp", "sms", "voice:mobile", "voice:office", "push", "email"
    method: str  # "totp" | "sms" | "voice" | "push" | "email"
    destination: str  # E.164 number, e-mail address or push topic ("" for an app)
    shown: str  # masked, for the page


def choices(user: User, tokens: list[Token], methods: frozenset[str], push_topic: str) -> list[Choice]:
    """What the user can verify with, in the order the page lists them."""
    out: list[Choice] = []
    if tokens:
        out.append(Choice("totp", "totp", "", ""))
    if user.mobile and "sms" in methods:
        out.append(Choice("sms", "sms", user.mobile, mask(user.mobile)))
    if user.mobile and "voice" in methods:
        out.append(Choice("voice:mobile", "voice", user.mobile, mask(user.mobile)))
    if user.office_phone and "voice" in methods:
        out.append(Choice("voice:office", "voice", user.office_phone, mask(user.office_phone)))
    if user.push_enrolled and push_topic and "push" in methods:
        out.append(Choice("push", "push", push_topic, ""))
    if user.email and "email" in methods:
        out.append(Choice("email", "email", user.email, mask_email(user.email)))
    return out


@dataclass(frozen=True, slots=True)
class Started:
    data: Mapping[str, str]  # the session's v.* keys
    error: str = ""  # a message id (N_) when nothing could be started
    detail: str = ""  # a provider's own sentence (limits), shown as is


class Verifier:
    def __init__(self, store: OobStore, phone: PhoneFactors | None, otp: Factor, *, totp_window: int) -> None:
        self.store, self.phone, self.otp = store, phone, otp
        self.totp_window = totp_window

    async def start(
        self, user: User, method: str, destination: str, *, purpose: str, address: str, now: datetime
    ) -> Started:
        """Send the code, ring the phone or push; ``purpose`` ("signin",
        "stepup", "enroll") is kept to decide what a success grants."""
        data = {"v.purpose": purpose, "v.method": method, "v.dest": destination}
        if method == "totp":
            return Started(data)
        if self.phone is None:
            return Started({}, N_("This method is not available right now."))
        shown = mask_email(destination) if method == "email" else mask(destination)
        option = Option(method, destination, shown)
        if method in CODE_METHODS:
            state = secrets.token_bytes(16)
            refused = await self.phone.send_code(user, option, client=PORTAL_CLIENT, state=state, now=now)
            if refused is not None:
                return Started({}, N_("We could not send the code."), refused.message or "")
            return Started({**data, "v.state": state.hex(), "v.tries": "0"})
        waiter = secrets.token_hex(8)
        match = method == "push"
        held, refused = await self.phone.begin(
            user, option, client=PORTAL_CLIENT, waiter=waiter, station=address, now=now, match=match
        )
        if held is None:
            detail = refused.message if refused is not None and refused.message else ""
            return Started({}, N_("We could not reach your phone."), detail)
        started = {**data, "v.oob": held.id, "v.waiter": waiter}
        if match:
            started["v.number"] = f"{await self.phone.shown_number(held):02d}"
        return Started(started)

    async def check_code(
        self, user: User, tokens: list[Token], data: Mapping[str, str], code: str, *, now: datetime,
        seed: bytes | None = None, max_attempts: int = 3,
    ) -> tuple[bool | None, dict[str, str]]:
        """(True | False | None for "expired: start again", data to keep).

        An app code is checked against the user's tokens, or against
        ``seed`` (an app being added: not stored until its first code is right)."""
        method = data.get("v.method", "")
        code = code.strip().replace(" ", "")
        if method == "totp":
            if seed is not None:
                return _seed_matches(seed, code, now=now, window=self.totp_window), dict(data)
            check = await self.otp.verify(self.otp.usable(tokens), code.encode(), now=now)
            return check.ok, dict(data)
        if method not in CODE_METHODS or self.phone is None or "v.state" not in data:
            return None, {}
        tries = int(data.get("v.tries", "0")) + 1
        nxt = secrets.token_bytes(16)
        carry = nxt if tries < max_attempts else None
        verdict = await self.phone.check_code(bytes.fromhex(data["v.state"]), code.encode(), now=now, carry_to=carry)
        if verdict is None:
            return None, {}
        kept = {**data, "v.state": nxt.hex(), "v.tries": str(tries)} if carry is not None else {}
        return verdict, kept

    async def poll(self, data: Mapping[str, str], *, now: datetime) -> str:
        """"pending", "approved", "denied", "wrong number" (a push's other
        number was tapped) or "expired" for a call or push."""
        oob_id = data.get("v.oob", "")
        row = await self.store.get_oob(oob_id) if oob_id else None
        if row is None or row.waiter != data.get("v.waiter"):
            return "expired"
        if row.phase is Phase.AWAITING_APPROVAL:
            if row.expires_at > now:
                return "pending"
            # Through the phone factors: an unanswered push counts towards the deny streak.
            expired = await self.phone.expire(oob_id, now=now) if self.phone is not None else (
                await self.store.expire_oob(oob_id) is not None)
            if expired:
                return "expired"
            row = await self.store.get_oob(oob_id) or row  # decided just now
        if row.phase is Phase.APPROVED:
            return "approved"
        if row.phase is Phase.EXPIRED:
            return "expired"
        return WRONG_NUMBER if row.reason == push_guard.WRONG_NUMBER else "denied"


def _seed_matches(seed: bytes, code: str, *, now: datetime, window: int) -> bool:
    probe = Token(id=0, username="", kind="totp", secret=seed)
    return matching_step(probe, code.encode(), now=now, window=window) is not None


def first_step(seed: bytes, code: str, *, now: datetime, window: int) -> int | None:
    """The TOTP step ``code`` belongs to: stored as the new token's last step,
    so the code that proved the app cannot be used again at the VPN."""
    probe = Token(id=0, username="", kind="totp", secret=seed)
    return matching_step(probe, code.encode(), now=now, window=window)


def clear(data: Mapping[str, str]) -> dict[str, str]:
    """The session data without a verification in progress."""
    return {k: v for k, v in data.items() if not k.startswith("v.")}
