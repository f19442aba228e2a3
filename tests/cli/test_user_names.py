"""`radmfa user add` refuses names no login could use (core.policy.name_problem):
one clear line, exit status 2, nothing stored."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Radmfa, assert_one_line_error


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("alice\x00", "contains U+0000, a control character"),
        ("alice\x01", "contains U+0001, a control character"),
        ("alice\u200b", "contains U+200B, an invisible format character"),
        ("\u202ealice", "contains U+202E, an invisible format character"),
        ("alice ", "starts or ends with a space"),
        (" alice", "starts or ends with a space"),
        ("al  ice", "two spaces in a row"),
        ("alice\uff20corp", "look-alike of @"),
        ("CORP\\", "nothing left once a DOMAIN\\ prefix and an @realm are removed"),
        ("", "is empty"),
        ("a" * 254, "longer than 253 octets"),
    ],
)
def test_user_add_refuses_a_name_no_login_could_use(radmfa: Radmfa, name: str, why: str) -> None:
    result = radmfa("user", "add", name)
    line = assert_one_line_error(result, status=2)
    assert why in line and repr(name)[:40] in line
    assert line.isprintable()  # the name shown escaped: no NUL or bidi override on the terminal
    assert radmfa.store(lambda store: store.list_users()) == []


def test_user_add_still_takes_ordinary_names(radmfa: Radmfa) -> None:
    for name in ("alice", "CORP\\bob", "carol@corp.example", "Dave Smith", "jos\u00e9"):
        assert radmfa("user", "add", name).status == 0
    names = sorted(u.name for u in radmfa.store(lambda store: store.list_users()))
    assert names == sorted(["alice", "CORP\\bob", "carol@corp.example", "Dave Smith", "jos\u00e9"])
