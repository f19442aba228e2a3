"""Every text a user sees or hears from the phone factors goes through here.

The kinds operators may customise (radmfa.core.messages.PLACEHOLDERS: sms, the
call's greeting and prompt, challenge menu and code prompt, push title and
text, e-mail subject and body) come from ``messages.render``: per language
and client, from the store. The few texts that are not customisable yet
(menu item labels, the two-way text, what the call says at the end, reject
reasons) have their defaults here, with the same placeholder rules.
"""

from __future__ import annotations

from collections.abc import Mapping

from radmfa.core import messages
from radmfa.core.ports import MessageLookup

DEFAULTS: Mapping[str, str] = {
    "sms_two_way": "Reply {code} to this message to sign in to {app}.",
    "voice_approved": "Thank you. You are signed in. Goodbye.",
    "voice_denied": "The sign-in was denied. Goodbye.",
    "challenge_menu_no_code": "Choose: {menu}",
    "challenge_wrong_code": "Wrong code. Enter the code we sent to {to}:",
    "menu_sms": "text to {to}",
    "menu_voice": "call {to}",
    "menu_push": "push",
    "menu_email": "e-mail to {to}",
    "push_approve": "Approve",
    "push_deny": "Deny",
    "push_fraud": "Deny and report fraud",
    "push_details": "{nas}, from {ip}, at {time}",
    "push_match_text": "Tap the number shown where you are signing in. Not you? Ignore this request.",
    "push_number_prompt": "Your sign-in number is {number}. Tap {number} in the push on your phone, then press OK.",
    "push_wrong_number": "The wrong number was chosen on the phone.",
    "push_blocked": "Push sign-in is blocked after repeated denied or unanswered requests. "
    "Use another method or contact your helpdesk.",
    "oob_denied": "The sign-in was denied on the phone.",
    "oob_timeout": "No answer on the phone in time.",
    "delivery_failed": "We could not reach your phone. Try another method or contact your helpdesk.",
}


def _fill(template: str, values: Mapping[str, str]) -> str:
    # Plain replacement, not str.format: a brace in a value must not raise or
    # reach attributes.
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


async def render(
    store: MessageLookup, kind: str, *, language: str | None, client: str, app: str, values: Mapping[str, str]
) -> str:
    """The text of ``kind`` for a user of ``language`` on ``client``; ``app``
    is the client's app_name (``{app}``)."""
    if kind in messages.PLACEHOLDERS:
        return await messages.render(store, kind, language=language, client=client, values={"app": app, **values})
    return _fill(DEFAULTS[kind], {"app": app, **values})
