"""Challenge-session phases as one transition table (h11 style).

Everything that changes a session's phase lives here. The pipeline asks
``advance`` and stores what it returns; an unknown (phase, event) raises.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from radmfa.core.model import Attr, Phase, Session


class Event(enum.Enum):
    CODE_OK = "code_ok"
    CODE_WRONG = "code_wrong"
    TIMEOUT = "timeout"
    # out-of-band answers, from provider callbacks
    APPROVE = "approve"  # "#" on the call, Approve on the push, the right code texted back
    DENY = "deny"  # Deny, a wrong key, hang-up or silence
    REPORT_FRAUD = "report_fraud"  # the fraud code, "Deny and report fraud"


class InvalidTransition(Exception):
    pass


# (phase, event) -> phase. CODE_WRONG either stays AWAITING_CODE (another
# attempt, new State) or ends REJECTED; `advance` picks by the attempt count.
TRANSITIONS: dict[tuple[Phase, Event], tuple[Phase, ...]] = {
    (Phase.AWAITING_CODE, Event.CODE_OK): (Phase.ACCEPTED,),
    (Phase.AWAITING_CODE, Event.CODE_WRONG): (Phase.AWAITING_CODE, Phase.REJECTED),
    (Phase.AWAITING_CODE, Event.TIMEOUT): (Phase.EXPIRED,),
    # Out-of-band sessions: decided once, by the first callback (the store
    # applies the target with one UPDATE … WHERE phase = 'awaiting_approval').
    (Phase.AWAITING_APPROVAL, Event.APPROVE): (Phase.APPROVED,),
    (Phase.AWAITING_APPROVAL, Event.DENY): (Phase.DENIED,),
    (Phase.AWAITING_APPROVAL, Event.REPORT_FRAUD): (Phase.DENIED,),
    (Phase.AWAITING_APPROVAL, Event.TIMEOUT): (Phase.EXPIRED,),
}

TERMINAL = frozenset((Phase.ACCEPTED, Phase.REJECTED, Phase.EXPIRED, Phase.APPROVED, Phase.DENIED))


def oob_target(phase: Phase, event: Event) -> Phase:
    """Where an out-of-band session goes on ``event``; raises for a pair the
    table does not hold (e.g. a callback for a session already decided)."""
    targets = TRANSITIONS.get((phase, event))
    if targets is None or phase is not Phase.AWAITING_APPROVAL:
        raise InvalidTransition(f"{event.value} is not valid in phase {phase.value}")
    return targets[0]


def open_session(
    *,
    state: bytes,
    client: str,
    username: bytes,
    factor: str,
    reply_attrs: tuple[Attr, ...],
    ttl_s: int,
    now: datetime,
) -> Session:
    if len(state) < 16:
        raise ValueError("State must carry at least 16 random octets")  # ≥128 bits (CHAL-3)
    # Positional, in field order (attempts 0, phase AWAITING_CODE): a keyword
    # call packs its arguments into a dict for the slot-filling __new__.
    return Session(state, client, username, factor, 0, now + timedelta(seconds=ttl_s), reply_attrs)


def advance(
    session: Session,
    event: Event,
    *,
    max_attempts: int,
    new_state: bytes | None = None,
    now: datetime,
) -> Session:
    """Apply ``event``. A wrong code with attempts left yields a fresh session
    under ``new_state`` (each challenge has its own single-use State)."""
    targets = TRANSITIONS.get((session.phase, event))
    if targets is None:
        raise InvalidTransition(f"{event.value} is not valid in phase {session.phase.value}")
    if session.expires_at <= now and event is not Event.TIMEOUT:
        return _moved(session, session.state, session.attempts, Phase.EXPIRED)
    if event is Event.CODE_WRONG:
        attempts = session.attempts + 1
        if attempts >= max_attempts or new_state is None:
            return _moved(session, session.state, attempts, Phase.REJECTED)
        return _moved(session, new_state, attempts, Phase.AWAITING_CODE)
    return _moved(session, session.state, session.attempts, targets[0])


def _moved(session: Session, state: bytes, attempts: int, phase: Phase) -> Session:
    """``session`` with a new state, attempt count and phase: dataclasses.replace's
    result built directly (replace inspects the fields on every call; this runs
    twice on every answered challenge)."""
    return Session(
        state, session.client, session.username, session.factor, attempts, session.expires_at,
        session.reply_attrs, phase,
    )
