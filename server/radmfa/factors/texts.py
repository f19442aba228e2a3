"""Every text a user sees or hears from the phone factors, in one place.

``render`` is the single seam: issue 4b's radmfa.messages (custom messages
per language, client and type) replaces it with a call of the same shape,
``messages.render(store, kind, language=…, client=…, values=…)``.
Placeholders: {code} {app} {user} and the kind's own ({to}, {options}, …).
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULTS: Mapping[str, str] = {
    "sms": "Your {app} code is {code}",
    "sms_two_way": "Reply {code} to this message to sign in to {app}.",
    "voice_greeting": "Hello. This is {app}. Someone is signing in as {user}.",
    "voice_prompt": "Press the pound key to approve. If you did not start this sign-in, "
    "press {fraud} to report fraud. To deny, hang up.",
    "voice_approved": "Thank you. You are signed in. Goodbye.",
    "voice_denied": "The sign-in was denied. Goodbye.",
    "challenge_menu": "Enter your code, or {options}",
    "challenge_menu_no_code": "Choose: {options}",
    "challenge_code": "Enter the code we sent to {to}:",
    "challenge_wrong_code": "Wrong code. Enter the code we sent to {to}:",
    "menu_sms": "text to {to}",
    "menu_voice": "call {to}",
    "menu_push": "push",
    "menu_email": "e-mail to {to}",
    "push_title": "{app} sign-in",
    "push_text": "Approve the sign-in of {user} to {app}?",
    "push_approve": "Approve",
    "push_deny": "Deny",
    "push_fraud": "Deny and report fraud",
    "email_subject": "Your {app} code",
    "email_body": "Your {app} code is {code}.\n\nIt is valid for {minutes} minutes. "
    "If you did not try to sign in, tell your helpdesk.",
    "oob_denied": "The sign-in was denied on the phone.",
    "oob_timeout": "No answer on the phone in time.",
    "delivery_failed": "We could not reach your phone. Try another method or contact your helpdesk.",
}


def _fill(template: str, values: Mapping[str, str]) -> str:
    # Plain replacement, not str.format: a brace in a custom text or a value
    # must not raise or reach attributes.
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


async def render(kind: str, *, language: str | None, client: str, values: Mapping[str, str]) -> str:
    """The text of ``kind`` for this user's language and client."""
    return _fill(DEFAULTS[kind], {"app": client, **values})
