"""TwiML for the "press # to approve" call (Twilio's <Gather>).

"#" cannot be Gather's finishOnKey: "if the caller enters the finishOnKey
value before entering any other digits, Twilio will not make a request to
the action URL" (TwiML reference, <Gather>), so "#" alone would fall
through like silence. Hence finishOnKey="" (every key is a digit) and
numDigits = the fraud code's length: the fraud code "0#" arrives as
Digits="0#" at once; "#" alone arrives as Digits="#" after TIMEOUT_S
without another key; any other key denies. No key before the timeout falls
through to the <Redirect>, which denies ("silence"). actionOnEmptyResult
stays off: with it, silence would post Digits="" like a key press.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
APPROVE_KEY = "#"
TIMEOUT_S = 5  # seconds Twilio waits for a (further) key; "#" alone is posted after this


def prompt(parts: Sequence[tuple[str, bool]], *, gather_url: str, silence_url: str, fraud_code: str) -> str:
    """``parts``: (text, False) is said (<Say>), (URL, True) is a recording played (<Play>)."""
    spoken = "".join(f"<Play>{escape(v)}</Play>" if url else f"<Say>{escape(v)}</Say>" for v, url in parts)
    return (
        f"{_HEAD}<Response>"
        f'<Gather input="dtmf" numDigits="{len(fraud_code)}" finishOnKey="" timeout="{TIMEOUT_S}" '
        f'action={quoteattr(gather_url)} method="POST">'
        f"{spoken}"
        f"</Gather>"
        f'<Redirect method="POST">{escape(silence_url)}</Redirect>'
        f"</Response>"
    )


def goodbye(text: str) -> str:
    return f"{_HEAD}<Response><Say>{escape(text)}</Say><Hangup/></Response>"


def verdict(digits: str, fraud_code: str) -> str:
    """'approve', 'fraud' or 'deny' for the keys pressed (Digits)."""
    if digits == APPROVE_KEY:
        return "approve"
    if digits == fraud_code:
        return "fraud"
    return "deny"
