from __future__ import annotations

import csv
import io

import pytest
from argon2 import PasswordHasher

from radmfa.core.admin_model import AdminEvent
from radmfa.core.admin_ports import Store
from radmfa.core.model import User, UserState
from tests.cli.conftest import Radmfa, assert_one_line_error


def get_user(radmfa: Radmfa, name: str) -> User | None:
    async def work(store: Store) -> User | None:
        return await store.get_user(name)

    return radmfa.store(work)


def test_add_list_show_delete(radmfa: Radmfa) -> None:
    added = radmfa("user", "add", "bob", "--email", "bob@example.com", "--mobile", "+49 30 1234567",
                   "--first", "Bob", "--last", "Builder")
    assert added.status == 0, added.err
    assert 'added user "bob"' in added.out

    listed = radmfa("user", "list")
    assert listed.status == 0
    header, rule, row = listed.out.splitlines()
    assert header.split() == ["name", "state", "first", "last", "email", "mobile", "office", "method",
                              "language", "password", "tokens", "created"]
    assert set(rule) <= {"-", " "}
    assert row.split()[:11] == ["bob", "enabled", "Bob", "Builder", "bob@example.com", "+49301234567",
                                "-", "-", "-", "-", "0"]

    shown = radmfa("user", "show", "bob")
    assert shown.status == 0
    assert "bob@example.com" in shown.out and "no tokens" in shown.out

    deleted = radmfa("user", "delete", "bob")
    assert deleted.status == 0
    assert get_user(radmfa, "bob") is None
    assert radmfa("user", "list").out.strip() == "no users"


def test_list_csv(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice")
    radmfa("user", "add", "=cmd|' /C calc'!A0")  # a name a spreadsheet would run
    result = radmfa("user", "list", "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0][:3] == ["name", "state", "first"]
    assert [r[0] for r in rows[1:]] == ["'=cmd|' /C calc'!A0", "alice"]


def test_duplicate_user_is_one_line_and_changes_nothing(radmfa: Radmfa) -> None:
    radmfa("user", "add", "bob", "--email", "first@example.com")
    result = radmfa("user", "add", "bob", "--email", "second@example.com")
    line = assert_one_line_error(result)
    assert line == 'radmfa: error: user "bob" already exists'
    user = get_user(radmfa, "bob")
    assert user is not None and user.email == "first@example.com"


def test_add_with_password_from_stdin_stores_argon2_hash(radmfa: Radmfa) -> None:
    result = radmfa("user", "add", "alice", "--password", stdin="s3cret pass\n")
    assert result.status == 0, result.err
    assert "s3cret" not in result.out + result.err
    user = get_user(radmfa, "alice")
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2")
    assert PasswordHasher().verify(user.password_hash, "s3cret pass")


def test_add_with_empty_password_adds_nobody(radmfa: Radmfa) -> None:
    result = radmfa("user", "add", "alice", "--password", stdin="")
    assert "password" in assert_one_line_error(result)
    assert get_user(radmfa, "alice") is None


def test_passwd_changes_the_hash(radmfa: Radmfa) -> None:
    radmfa("user", "add", "alice", "--password", stdin="old-password\n")
    result = radmfa("user", "passwd", "alice", stdin="new-password\n")
    assert result.status == 0, result.err
    user = get_user(radmfa, "alice")
    assert user is not None and user.password_hash is not None
    assert PasswordHasher().verify(user.password_hash, "new-password")
    assert "new-password" not in result.out + result.err


def test_passwd_for_missing_user(radmfa: Radmfa) -> None:
    result = radmfa("user", "passwd", "ghost", stdin="pw\n")
    assert assert_one_line_error(result) == "radmfa: error: no such user: ghost"


def test_delete_missing_user(radmfa: Radmfa) -> None:
    result = radmfa("user", "delete", "ghost")
    assert assert_one_line_error(result) == "radmfa: error: no such user: ghost"


def test_show_missing_user(radmfa: Radmfa) -> None:
    assert_one_line_error(radmfa("user", "show", "ghost"))


def test_delete_takes_the_tokens_along(radmfa: Radmfa) -> None:
    radmfa("user", "add", "bob")
    radmfa("token", "add", "bob", "--type", "totp")
    radmfa("token", "add", "bob", "--type", "totp")
    result = radmfa("user", "delete", "bob")
    assert result.out.strip() == 'deleted user "bob" and 2 tokens'
    radmfa("user", "add", "bob")  # same name again: no token may come back with it
    assert radmfa("token", "list", "bob").out.strip() == "no tokens"


def test_show_lists_tokens_but_never_seeds(radmfa: Radmfa) -> None:
    seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    radmfa("user", "add", "bob")
    radmfa("token", "add", "bob", "--type", "totp", "--secret", seed, "--label", "phone")
    shown = radmfa("user", "show", "bob")
    assert shown.status == 0
    assert "phone" in shown.out and "totp" in shown.out
    assert seed not in shown.out and "secret" not in shown.out.lower()


@pytest.mark.parametrize("name", ["", "x" * 254, "tab\tname", "esc\x1b"])
def test_names_a_nas_cannot_send_are_refused(radmfa: Radmfa, name: str) -> None:
    assert_one_line_error(radmfa("user", "add", name), status=2)
    assert radmfa("user", "list").out.strip() == "no users"


def test_set_changes_profile_and_state(radmfa: Radmfa) -> None:
    assert radmfa("user", "add", "carol", "--mobile", "+14155550100").status == 0
    changed = radmfa("user", "set", "CAROL", "--office-phone", "+1 (415) 555-0199", "--language", "de-CH",
                     "--default-method", "sms", "--state", "enforced", "--mobile", "")
    assert changed.status == 0, changed.err
    user = get_user(radmfa, "carol")
    assert user is not None
    assert (user.mobile, user.office_phone, user.language, user.default_method, user.state) == (
        None, "+14155550199", "de-CH", "sms", UserState.ENFORCED)

    blocked = radmfa("user", "set", "carol", "--state", "blocked")
    assert blocked.status == 0
    shown = radmfa("user", "show", "carol").out
    assert "blocked (set by an administrator)" in shown


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--mobile", "4155550100", "not an E.164 number"),
        ("--office-phone", "+0123456789", "not an E.164 number"),
        ("--mobile", "+1234567890123456", "not an E.164 number"),
        ("--language", "english!", "not a language tag"),
        ("--default-method", "pigeon", "not a method"),
        ("--state", "asleep", "not a state"),
    ],
)
def test_set_refuses_bad_values_and_changes_nothing(radmfa: Radmfa, option: str, value: str, complaint: str) -> None:
    radmfa("user", "add", "dave", "--mobile", "+14155550100")
    before = get_user(radmfa, "dave")
    result = radmfa("user", "set", "dave", "--email", "d@example.org", option, value)
    assert result.status == 2 and complaint in result.err
    assert get_user(radmfa, "dave") == before


def test_set_needs_an_option_and_a_user(radmfa: Radmfa) -> None:
    assert radmfa("user", "add", "erin").status == 0
    assert radmfa("user", "set", "erin").status == 2
    missing = radmfa("user", "set", "nobody", "--email", "x@example.org")
    assert missing.status == 1 and "no such user: nobody" in missing.err


def test_changes_are_in_the_admin_log(radmfa: Radmfa) -> None:
    radmfa("user", "add", "frank", "--email", "f@example.org")
    radmfa("user", "set", "frank", "--state", "disabled")
    radmfa("user", "set", "ghost", "--state", "disabled")  # fails: not logged
    radmfa("user", "delete", "frank")

    async def work(store: Store) -> list[AdminEvent]:
        return await store.query_admin_events()

    events = radmfa.store(work)
    assert [(e.action, e.target) for e in events] == [
        ("user.add", "frank"), ("user.set", "frank"), ("user.delete", "frank")]
    assert "state=disabled" in events[1].detail
    assert all(e.actor for e in events)


def test_push_enrollment_is_set_shown_and_reset(radmfa: Radmfa) -> None:
    assert radmfa("user", "add", "pia", "--push", "on").status == 0
    user = get_user(radmfa, "pia")
    assert user is not None and user.push_enrolled
    assert radmfa("user", "set", "pia", "--push", "off").status == 0
    user = get_user(radmfa, "pia")
    assert user is not None and not user.push_enrolled
    assert radmfa("user", "set", "pia", "--push", "maybe").status == 2

    radmfa("user", "set", "pia", "--push", "on")
    assert "push_enrolled=True" in radmfa("report", "admin").out
    assert radmfa("user", "reset", "pia").status == 0  # lost phone: its push goes too
    user = get_user(radmfa, "pia")
    assert user is not None and not user.push_enrolled
