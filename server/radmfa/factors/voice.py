"""TwiML for the "press # to approve" call (Twilio's <Gather>).

With finishOnKey="#", "#" alone arrives as Digits="" (approve); the fraud
code "0#" arrives as Digits="0"; any other key denies. No key before the
timeout falls through to the <Redirect>, which denies ("silence").
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def prompt(greeting: str, question: str, *, gather_url: str, silence_url: str, fraud_code: str) -> str:
    digits = len(fraud_code.rstrip("#")) + 1
    return (
        f"{_HEAD}<Response>"
        f'<Gather input="dtmf" numDigits="{digits}" finishOnKey="#" timeout="10" '
        f'action={quoteattr(gather_url)} method="POST">'
        f"<Say>{escape(greeting)}</Say><Say>{escape(question)}</Say>"
        f"</Gather>"
        f'<Redirect method="POST">{escape(silence_url)}</Redirect>'
        f"</Response>"
    )


def goodbye(text: str) -> str:
    return f"{_HEAD}<Response><Say>{escape(text)}</Say><Hangup/></Response>"


def spoken(code: str) -> str:
    """'0#' → '0, then the pound key' (said by the text-to-speech)."""
    return ", ".join(code.rstrip("#")) + ", then the pound key"


def verdict(digits: str, fraud_code: str) -> str:
    """'approve', 'fraud' or 'deny' for the keys pressed before '#'."""
    if digits == "":
        return "approve"
    if digits == fraud_code.rstrip("#"):
        return "fraud"
    return "deny"
