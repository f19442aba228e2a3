"""Bind names: DNs told from user names, compared, and read (RFC 4514)."""

from __future__ import annotations

import pytest

from radmfa.front.ldap import names


def test_dns_and_names_told_apart():
    assert names.parse("uid=alice,ou=people,dc=example,dc=org") is not None
    for name in ("alice", "alice@corp.example", "CORP\\alice", ""):
        assert names.parse(name) is None


def test_two_spellings_of_one_dn_share_a_key():
    key = names.key("uid=alice,ou=people,dc=example,dc=org")
    assert key == names.key("UID = Alice , OU=People,DC=Example,DC=ORG")
    assert key == names.key("uid=al\\69ce,ou=people,dc=example,dc=org")  # a hex pair, RFC 4514 §2.4
    assert key != names.key("uid=alice,ou=staff,dc=example,dc=org")
    assert names.key("cn=a+sn=b,dc=x") == names.key("sn=B+cn=A,dc=x")  # a multi-valued RDN is a set


@pytest.mark.parametrize(
    ("dn", "attribute", "value"),
    [
        ("uid=alice,ou=people,dc=example,dc=org", "uid", "alice"),
        ("UID=Alice,ou=people,dc=example,dc=org", "uid", "Alice"),
        ("uid=star\\2auser,ou=people,dc=example,dc=org", "uid", "star*user"),
        ("cn=Smith\\, John,ou=staff", "cn", "Smith, John"),
        ("uid=j\\C3\\A9r\\C3\\B4me,ou=people", "uid", "jérôme"),  # UTF-8 octets as hex pairs
        ("cn=Alice Smith,ou=staff,dc=corp", "sAMAccountName", None),  # AD: not in the DN
        ("uid=#04024869,ou=people", "uid", None),  # the BER form names nobody
        ("cn=a+uid=b,dc=x", "uid", "b"),
        ("ou=people,uid=alice", "uid", None),  # only the first RDN names the entry
    ],
)
def test_the_user_name_in_the_first_rdn(dn, attribute, value):
    assert names.rdn_value(dn, attribute) == value


def test_under_a_base():
    assert names.under("uid=a,ou=people,dc=example,dc=org", "dc=Example, dc=org")
    assert names.under("dc=example,dc=org", "dc=example,dc=org")
    assert not names.under("uid=a,ou=people,dc=evil,dc=org", "dc=example,dc=org")
    assert not names.under("dc=org", "dc=example,dc=org")
    assert not names.under("alice", "dc=example,dc=org")
