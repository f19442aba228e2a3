"""Decision.user: the listener's source for the audit row's names and email."""

from __future__ import annotations

from datetime import timedelta

from radmfa.core.model import Verdict
from tests.unit.test_pipeline import NOW, code_at, env, req, state_of  # noqa: F401 (env is a fixture)


async def test_each_leg_names_the_user(env) -> None:  # noqa: F811
    make, _, store = env
    await store.update_user("alice", {"first_name": "Alice", "email": "a@example.com"})
    p = make()
    first = await p.handle(req(b"alice", b"pw"), now=NOW)
    assert first.verdict is Verdict.CHALLENGE and first.user is not None
    assert (first.user.name, first.user.first_name, first.user.email) == ("alice", "Alice", "a@example.com")
    second = await p.handle(req(b"alice", code_at(NOW), state_of(first)), now=NOW + timedelta(seconds=5))
    assert second.verdict is Verdict.ACCEPT and second.user is not None and second.user.name == "alice"
    assert (second.phone, second.device) == ("", "")  # set only by the phone factors


async def test_unknown_user_has_none(env) -> None:  # noqa: F811
    make, _, _ = env
    d = await make(unknown_users="password-only").handle(req(b"stranger", b"pw"), now=NOW)
    assert d.verdict is Verdict.ACCEPT and d.user is None
    stale = await make().handle(req(b"alice", b"123456", b"\x00" * 16), now=NOW)
    assert stale.verdict is Verdict.REJECT and stale.user is None
