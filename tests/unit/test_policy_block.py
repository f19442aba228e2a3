"""core.policy.block_reason and user_ip (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core import policy
from radmfa.core.model import User, UserState

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def user(state: UserState, until: datetime | None = None, reason: str | None = None) -> User:
    return User(1, "alice", state=state, blocked_until=until, blocked_reason=reason)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (user(UserState.ENABLED), None),
        (user(UserState.ENFORCED, NOW + timedelta(days=1), "fraud"), None),  # only the state blocks
        (user(UserState.BLOCKED, None, "fraud"), "blocked-fraud"),
        (user(UserState.BLOCKED, NOW + timedelta(seconds=1), "fraud"), "blocked-fraud"),
        (user(UserState.BLOCKED, NOW, "fraud"), None),  # ends at blocked_until
        (user(UserState.BLOCKED, NOW - timedelta(days=1), "lockout"), None),
        (user(UserState.BLOCKED, NOW + timedelta(minutes=5), "lockout"), "blocked-lockout"),
        (user(UserState.BLOCKED, None, "set by an administrator"), "blocked"),
        (user(UserState.BLOCKED), "blocked"),
    ],
)
def test_block_reason(who: User, expected: str | None) -> None:
    assert policy.block_reason(who, now=NOW) == expected


CSID, FRAMED = 31, 8


@pytest.mark.parametrize(
    ("attrs", "attribute", "expected"),
    [
        ([(CSID, b"198.51.100.7")], "Calling-Station-Id", "198.51.100.7"),
        ([(CSID, b" 2001:db8::7 ")], "Calling-Station-Id", "2001:db8::7"),
        ([(CSID, b"00-11-22-33-44-55")], "Calling-Station-Id", ""),  # a MAC is no IP
        ([(CSID, b"\xff\xfe")], "Calling-Station-Id", ""),
        ([], "Calling-Station-Id", ""),
        ([(FRAMED, bytes([10, 1, 2, 3])), (CSID, b"198.51.100.7")], "Framed-IP-Address", "10.1.2.3"),
        ([(FRAMED, b"\x0a\x01")], "Framed-IP-Address", ""),
        ([(CSID, b"198.51.100.7")], "Framed-IP-Address", ""),
        ([(CSID, b"198.51.100.7")], "source", "192.0.2.1"),
    ],
)
def test_user_ip(attrs: list[tuple[int, bytes]], attribute: str, expected: str) -> None:
    assert policy.user_ip(attrs, attribute, "192.0.2.1") == expected
