"""Networks pasted one per line: every bad line named by its number, comments and blank lines skipped."""

from __future__ import annotations

import ipaddress

from radmfa.config.stored import parse_network_lines


def test_good_lines_comments_and_blanks() -> None:
    found, problems = parse_network_lines("# offices\n10.0.0.0/8\n\n  2001:db8::/32   # lab\n192.0.2.7\n")
    assert problems == []
    assert found == [ipaddress.ip_network(t) for t in ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32")]


def test_every_bad_line_is_named() -> None:
    found, problems = parse_network_lines("10.0.0.0/8\n10.1.2.3/24\nx\n2001:db8::1/32\n::/0\n300.1.1.1\n")
    assert [p.split(":", 1)[0] for p in problems] == ["line 2", "line 3", "line 4", "line 6"]
    assert "has host bits set" in problems[0]
    assert [str(n) for n in found] == ["10.0.0.0/8", "::/0"]
