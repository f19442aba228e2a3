from __future__ import annotations

import csv
import io

import pytest
from argon2 import PasswordHasher

from radmfa.core.model import User
from radmfa.core.ports import Store
from tests.cli.conftest import Radmfa, assert_one_line_error


def get_user(radmfa: Radmfa, name: str) -> User | None:
    async def work(store: Store) -> User | None:
        return await store.get_user(name)

    return radmfa.store(work)


def test_add_list_show_delete(radmfa: Radmfa) -> None:
    added = radmfa("user", "add", "bob", "--email", "bob@example.com", "--phone", "+4912345",
                   "--first", "Bob", "--last", "Builder")
    assert added.status == 0, added.err
    assert 'added user "bob"' in added.out

    listed = radmfa("user", "list")
    assert listed.status == 0
    header, rule, row = listed.out.splitlines()
    assert header.split() == ["name", "first", "last", "email", "phone", "password", "tokens",
                              "created"]
    assert set(rule) <= {"-", " "}
    assert row.split()[:7] == ["bob", "Bob", "Builder", "bob@example.com", "+4912345", "-", "0"]

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
    assert rows[0][:2] == ["name", "first"]
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
    radmfa("user", "add", "alice", "--password", stdin="old\n")
    result = radmfa("user", "passwd", "alice", stdin="new\n")
    assert result.status == 0, result.err
    user = get_user(radmfa, "alice")
    assert user is not None and user.password_hash is not None
    assert PasswordHasher().verify(user.password_hash, "new")
    assert "new" not in result.out + result.err


def test_passwd_for_missing_user(radmfa: Radmfa) -> None:
    result = radmfa("user", "passwd", "ghost", stdin="pw\n")
    assert assert_one_line_error(result) == 'radmfa: error: user "ghost" does not exist'


def test_delete_missing_user(radmfa: Radmfa) -> None:
    result = radmfa("user", "delete", "ghost")
    assert assert_one_line_error(result) == 'radmfa: error: user "ghost" does not exist'


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
