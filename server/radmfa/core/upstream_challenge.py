"""An upstream's own Access-Challenge (RSA SecurID next-token or new-PIN, an
upstream OTP), relayed to the NAS under radmfa's State.

The NAS never sees the upstream's State: radmfa answers with its own (16
random octets, single use, expiring like every challenge session) and keeps
the upstream's in that session. The user's answer comes back with radmfa's
State; it goes upstream with the upstream's State in its place. Another
challenge is relayed the same way; the upstream's Accept continues the login
(radmfa's own factor, or none with ``relay-only``); its Reject ends it.

Pure: attribute lists in, attribute lists and sessions out.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from radmfa.core import session
from radmfa.core.model import Attr, AuthRequest, Session, UpstreamChallenge
from radmfa.radius.wire import IDLE_TIMEOUT, PROMPT, REPLY_MESSAGE, SESSION_TIMEOUT, STATE, VENDOR_SPECIFIC

FACTOR = "upstream"  # the session's factor, and the audit's (model.AUDIT_METHODS), while the upstream's challenge runs

# What an Access-Challenge may carry besides State and Proxy-State (RFC 2865
# §5.44), plus Prompt (RFC 2869 §5.10): relayed in the upstream's order.
# State is replaced by radmfa's; Proxy-State and Message-Authenticator are
# hop-by-hop and made by the listener.
RELAYED = frozenset((REPLY_MESSAGE, VENDOR_SPECIFIC, SESSION_TIMEOUT, IDLE_TIMEOUT, PROMPT))


def relays(choice: UpstreamChallenge) -> bool:
    """Whether a client with ``upstream_challenge = choice`` relays (else rejects)."""
    return choice != "reject"


def skips_own_factor(choice: UpstreamChallenge) -> bool:
    """``relay-only``: an upstream that challenged is the second factor itself."""
    return choice == "relay-only"


def relayed_attrs(challenge: tuple[Attr, ...]) -> tuple[Attr, ...]:
    """The upstream challenge's attributes the NAS gets, without its State."""
    return tuple((t, v) for t, v in challenge if t in RELAYED)


def upstream_state(challenge: tuple[Attr, ...]) -> bytes | None:
    return next((v for t, v in challenge if t == STATE), None)


def ttl_s(challenge: tuple[Attr, ...], challenge_ttl_s: int) -> int:
    """How long the relayed challenge may be answered: radmfa's challenge
    TTL, shortened by the upstream's Session-Timeout, which in an
    Access-Challenge is how long it waits for the answer (RFC 2865 §5.27)."""
    for t, v in challenge:
        if t == SESSION_TIMEOUT and len(v) == 4:
            seconds = int.from_bytes(v, "big")
            if seconds > 0:
                return min(challenge_ttl_s, seconds)
    return challenge_ttl_s


def open_relay(request: AuthRequest, challenge: tuple[Attr, ...], *, state: bytes, challenge_ttl_s: int,
               now: datetime) -> Session:
    """The session behind radmfa's ``state``: bound to this client and
    User-Name, holding the upstream's State for the answer."""
    theirs = upstream_state(challenge)
    return session.open_session(
        state=state,
        client=request.client,
        username=request.username or b"",
        factor=FACTOR,
        reply_attrs=() if theirs is None else ((STATE, theirs),),
        ttl_s=ttl_s(challenge, challenge_ttl_s),
        now=now,
    )


def forwarded(request: AuthRequest, found: Session) -> AuthRequest:
    """The NAS's answer as it goes upstream: radmfa's State replaced by the
    upstream's (none if the upstream sent none), every other attribute as is."""
    theirs = upstream_state(found.reply_attrs)
    attrs: list[Attr] = []
    for t, v in request.attrs:
        if t == STATE:
            if theirs is not None:
                attrs.append((STATE, theirs))
                theirs = None
            continue
        attrs.append((t, v))
    return replace(request, attrs=tuple(attrs), state=upstream_state(found.reply_attrs))
