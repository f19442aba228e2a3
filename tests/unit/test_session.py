from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core import session
from radmfa.core.model import Phase
from radmfa.core.session import TRANSITIONS, Event, InvalidTransition, advance, open_session

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def s(**kw):
    return open_session(state=b"s" * 16, client="c", username=b"u", factor="totp", reply_attrs=(), ttl_s=300, now=NOW)


def test_table_is_closed_over_phases_and_events():
    for (phase, _event), targets in TRANSITIONS.items():
        assert phase not in session.TERMINAL
        assert all(isinstance(t, Phase) for t in targets)
    for phase in session.TERMINAL:
        for event in Event:
            with pytest.raises(InvalidTransition):
                advance(s().__class__(**{**_fields(s()), "phase": phase}), event, max_attempts=3, now=NOW)


def _fields(x):
    return {f: getattr(x, f) for f in x.__slots__}


def test_code_ok_accepts_and_wrong_counts_attempts():
    assert advance(s(), Event.CODE_OK, max_attempts=3, now=NOW).phase is Phase.ACCEPTED
    nxt = advance(s(), Event.CODE_WRONG, max_attempts=3, new_state=b"n" * 16, now=NOW)
    assert nxt.phase is Phase.AWAITING_CODE and nxt.attempts == 1 and nxt.state == b"n" * 16
    last = advance(
        nxt.__class__(**{**_fields(nxt), "attempts": 2}), Event.CODE_WRONG, max_attempts=3, new_state=b"m" * 16, now=NOW
    )
    assert last.phase is Phase.REJECTED


def test_expiry_and_short_state():
    late = NOW + timedelta(seconds=301)
    assert advance(s(), Event.CODE_OK, max_attempts=3, now=late).phase is Phase.EXPIRED
    with pytest.raises(ValueError):
        open_session(state=b"short", client="c", username=b"u", factor="t", reply_attrs=(), ttl_s=1, now=NOW)


def test_advance_changes_only_state_attempts_and_phase():
    from dataclasses import replace

    base = replace(s(), attempts=1, reply_attrs=((25, b"class"),))
    late = NOW + timedelta(seconds=301)
    new = b"n" * 16
    assert advance(base, Event.CODE_OK, max_attempts=3, now=NOW) == replace(base, phase=Phase.ACCEPTED)
    assert advance(base, Event.CODE_WRONG, max_attempts=3, new_state=new, now=NOW) == replace(
        base, attempts=2, state=new
    )
    assert advance(base, Event.CODE_WRONG, max_attempts=2, new_state=new, now=NOW) == replace(
        base, attempts=2, phase=Phase.REJECTED
    )
    assert advance(base, Event.CODE_OK, max_attempts=3, now=late) == replace(base, phase=Phase.EXPIRED)
    assert advance(base, Event.TIMEOUT, max_attempts=3, now=NOW) == replace(base, phase=Phase.EXPIRED)
    held = replace(base, phase=Phase.AWAITING_APPROVAL)
    assert advance(held, Event.APPROVE, max_attempts=3, now=NOW) == replace(held, phase=Phase.APPROVED)


def test_challenges_accepts_answers_as_advance_does():
    # Challenges.accepts skips the Session advance builds: for every phase,
    # before, at and after the expiry, it says what advance(CODE_OK) says.
    from dataclasses import replace

    from radmfa.core.challenge import Challenges

    expiry = s().expires_at
    for phase in Phase:
        for now in (expiry - timedelta(seconds=1), expiry, expiry + timedelta(seconds=1)):
            found = replace(s(), phase=phase)
            try:
                slow = advance(found, Event.CODE_OK, max_attempts=3, now=now).phase is Phase.ACCEPTED
            except InvalidTransition:
                slow = False
            assert Challenges.accepts(found, now=now) is slow, (phase, now)


def test_open_session_is_the_keyword_built_session():
    from radmfa.core.model import Session

    attrs = ((25, b"class"), (11, b"filter"))
    opened = open_session(state=b"s" * 16, client="vpn", username=b"u\xff", factor="hotp", reply_attrs=attrs,
                          ttl_s=120, now=NOW)
    assert opened == Session(state=b"s" * 16, client="vpn", username=b"u\xff", factor="hotp", attempts=0,
                             expires_at=NOW + timedelta(seconds=120), reply_attrs=attrs, phase=Phase.AWAITING_CODE)
