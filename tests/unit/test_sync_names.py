"""Directory sync skips, with a warning, names no login could use
(core.policy.name_problem): the store only ever holds names a NAS can send
for exactly that user."""

from __future__ import annotations

from radmfa.directory.sync import plan_sync
from tests.unit.test_sync_plan import entry

BAD = ["alice\x00", "bob\x00x", "carol\u200b", "\u202edave", "erin\t", "fay\u00a0", "gus  smith", "CORP\\"]


def test_names_with_control_or_invisible_characters_are_skipped_with_a_warning():
    plan = plan_sync([entry(n) for n in BAD] + [entry("hal")], [], {}, max_removals=5, confirm_removals=None)
    assert [e.name for e in plan.create] == ["hal"]
    assert len(plan.problems) == len(BAD)  # problems are what the scheduled sync warns about
    for name, problem in zip(BAD, plan.problems, strict=True):
        assert problem.startswith(f"{name!r}: user name ") and problem.endswith("; not synced")
        assert problem.isprintable()
    assert plan.skipped == plan.problems


def test_an_empty_name_is_skipped_quietly_as_before():
    plan = plan_sync([entry("")], [], {}, max_removals=5, confirm_removals=None)
    assert plan.skipped == ["'': no usable user name"] and plan.problems == []
