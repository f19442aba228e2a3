"""TwiML for the "press # to approve" call (Twilio's <Gather>).

With finishOnKey="#", "#" alone arrives as Digits="" (approve); the fraud
code "0#" arrives as Digits="0"; any other key denies. No key before the
timeout falls through to the <Redirect>, which denies ("silence").
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def prompt(parts: Sequence[tuple[str, bool]], *, gather_url: str, silence_url: str, fraud_code: str) -> str:
    """``parts``: (text, False) is said (<Say>), (URL, True) is a recording played (<Play>)."""
    digits = len(fraud_code.rstrip("#")) + 1
    spoken = "".join(f"<Play>{escape(v)}</Play>" if url else f"<Say>{escape(v)}</Say>" for v, url in parts)
    return (
        f"{_HEAD}<Response>"
        f'<Gather input="dtmf" numDigits="{digits}" finishOnKey="#" timeout="10" '
        f'action={quoteattr(gather_url)} method="POST">'
        f"{spoken}"
        f"</Gather>"
        f'<Redirect method="POST">{escape(silence_url)}</Redirect>'
        f"</Response>"
    )


def goodbye(text: str) -> str:
    return f"{_HEAD}<Response><Say>{escape(text)}</Say><Hangup/></Response>"


def verdict(digits: str, fraud_code: str) -> str:
    """'approve', 'fraud' or 'deny' for the keys pressed before '#'."""
    if digits == "":
        return "approve"
    if digits == fraud_code.rstrip("#"):
        return "fraud"
    return "deny"
