"""core.policy.user_ip (pure); blocks are core.exemptions' (test_exemptions.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from radmfa.core import policy

NOW = datetime(2030, 1, 1, tzinfo=UTC)


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
