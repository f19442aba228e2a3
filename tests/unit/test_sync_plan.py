"""[sync] settings and the pure sync plan (who is created, updated, blocked, held back, skipped)."""

from __future__ import annotations

import pytest

from radmfa.config import SYNC_ATTRIBUTES, load
from radmfa.core.model import User, UserState
from radmfa.directory.sync import LEFT_REASON, DirectoryEntry, plan_sync
from radmfa.errors import ConfigError

LDAP = (
    '[upstream]\ntype = "ldap"\nservers = ["ldaps://dc1"]\nbind_dn = "cn=svc"\nbind_password = "pw"\n'
    'base_dn = "dc=corp"\n'
)


def cfg(tmp_path, text):
    p = tmp_path / "radmfa.toml"
    p.write_text(text)
    return load(p)


def test_sync_defaults_follow_an_ldap_upstream(tmp_path):
    s = cfg(tmp_path, LDAP + '[sync]\nattributes = { user_name = "sAMAccountName" }\n').sync
    assert s.upstream == "default" and s.max_removals == 5 and s.every_minutes == 0
    assert s.attributes == {**SYNC_ATTRIBUTES, "user_name": "sAMAccountName"}
    assert cfg(tmp_path, "").sync.upstream == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sync]\nevery_minutes = 60\n", "[sync] every_minutes: needs an LDAP upstream"),
        ('[sync]\nupstream = "corp"\n', "[sync] upstream: no [upstreams.corp] table"),
        ('[sync]\nupstream = "default"\n', "[sync] upstream: 'default' must be an LDAP upstream"),
        (LDAP + '[sync]\nattributes = { phone = "x" }\n', "[sync] attributes.phone: unknown user field"),
        (LDAP + '[sync]\nfilter = "uid=*"\n', "[sync] filter: not an LDAP filter"),
        (LDAP + "[sync]\nmax_removals = -1\n", "[sync] max_removals: must be between"),
        (LDAP + "[sync]\nnope = 1\n", "[sync] nope: unknown setting"),
    ],
)
def test_sync_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match="radmfa.toml") as e:
        cfg(tmp_path, text)
    assert message in str(e.value)


def entry(name, **fields):
    base = dict.fromkeys(("first_name", "last_name", "email", "mobile", "office_phone", "language"))
    return DirectoryEntry(name, {**base, **fields})


def test_plan():
    users = [
        User(1, "ann", mobile="+1"),
        User(2, "ben"),
        User(3, "cid", state=UserState.BLOCKED, blocked_reason=LEFT_REASON),
        User(4, "dan"),
        User(5, "eve", state=UserState.BLOCKED, blocked_reason="fraud report"),
        User(6, "hand"),
    ]
    sources = {"ann": "directory", "ben": "directory", "cid": "directory", "dan": "directory",
               "eve": "directory", "hand": None}
    entries = [entry("ANN", mobile="+2"), entry("ben"), entry("cid"), entry("new"), entry("hand", mobile="+9"),
               entry("CORP\\new"), entry("")]
    plan = plan_sync(entries, users, sources, max_removals=5, confirm_removals=False)
    assert [e.name for e in plan.create] == ["new"]
    came_back = {"state": "enabled", "blocked_reason": None, "blocked_until": None, "state_before_block": None}
    assert plan.update == [("ann", {"mobile": "+2"}), ("cid", came_back)]
    assert plan.block == ["dan"]  # eve is blocked already (for fraud) and stays so
    assert plan.skipped == ["'CORP\\\\new': the same user name as 'new'", "'': no usable user name",
                            "'hand': added by an administrator, so not managed by sync"]
    held = plan_sync([], users, sources, max_removals=1, confirm_removals=False)
    assert (held.block, held.held_back) == ([], ["ann", "ben", "dan"])
    assert plan_sync([], users, sources, max_removals=1, confirm_removals=True).block == ["ann", "ben", "dan"]


def test_a_leaver_under_a_timed_block_is_blocked_for_good_and_comes_back_as_before():
    # A lockout or fraud block ends by itself; a leaver's app passwords need no
    # upstream, so a leaver must get the block until unblocked all the same.
    from datetime import UTC, datetime

    soon = datetime(2030, 1, 1, tzinfo=UTC)
    users = [
        User(1, "lou", state=UserState.BLOCKED, blocked_until=soon, blocked_reason="lockout"),
        User(2, "fay", state=UserState.BLOCKED, blocked_until=soon, blocked_reason="fraud"),
        User(3, "ada", state=UserState.BLOCKED, blocked_reason=LEFT_REASON, state_before_block=UserState.ENFORCED),
    ]
    sources = {"lou": "directory", "fay": "directory", "ada": "directory"}
    plan = plan_sync([entry("ada")], users, sources, max_removals=5, confirm_removals=False)
    assert plan.block == ["lou", "fay"]
    assert plan.update == [
        ("ada", {"state": "enforced", "blocked_reason": None, "blocked_until": None, "state_before_block": None})
    ]
