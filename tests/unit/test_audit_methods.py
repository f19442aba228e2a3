"""Every decision names its method in the one vocabulary the docs, the config,
the reports and the CLI use (core/model.py AUDIT_METHODS): a code from an
authenticator app is `totp`, from a counter token `hotp`, never `otp`."""

from __future__ import annotations

from datetime import timedelta

from radmfa.core.model import AUDIT_METHODS, NewToken, NewUser, Verdict
from radmfa.factors.totp import hotp
from tests.unit.test_pipeline import NOW, SEED, code_at, env, req, state_of  # noqa: F401  (env is a fixture)

HOTP_SEED = bytes(range(40, 60))


async def test_totp_codes_are_recorded_as_totp(env):  # noqa: F811
    make, _, _ = env
    p = make()
    asked = await p.handle(req(b"alice", b"pw"), now=NOW)
    wrong = await p.handle(req(b"alice", b"000000", state_of(asked)), now=NOW)
    done = await p.handle(req(b"alice", code_at(NOW), state_of(wrong)), now=NOW)
    inline = await p.handle(req(b"alice", b"pw," + code_at(NOW + timedelta(seconds=30))), now=NOW)
    bad_inline = await p.handle(req(b"alice", b"pw,000000"), now=NOW)
    assert [d.verdict for d in (asked, wrong, done, inline, bad_inline)] == [
        Verdict.CHALLENGE, Verdict.CHALLENGE, Verdict.ACCEPT, Verdict.ACCEPT, Verdict.REJECT,
    ]
    assert {d.factor for d in (asked, wrong, done, inline, bad_inline)} == {"totp"}


async def test_hotp_tokens_are_recorded_as_hotp(env):  # noqa: F811
    make, upstream, store = env
    await store.add_user(NewUser("harry"))
    await store.add_token("harry", NewToken("hotp", HOTP_SEED))
    upstream.passwords[b"harry"] = b"pw"
    p = make()
    asked = await p.handle(req(b"harry", b"pw"), now=NOW)
    done = await p.handle(req(b"harry", hotp(HOTP_SEED, 0), state_of(asked)), now=NOW)
    inline = await p.handle(req(b"harry", b"pw," + hotp(HOTP_SEED, 1)), now=NOW)
    assert (asked.verdict, done.verdict, inline.verdict) == (Verdict.CHALLENGE, Verdict.ACCEPT, Verdict.ACCEPT)
    assert (asked.factor, done.factor, inline.factor) == ("hotp", "hotp", "hotp")


async def test_a_user_with_both_kinds_is_recorded_by_the_token_that_matched(env):  # noqa: F811
    make, _, store = env
    await store.add_token("alice", NewToken("hotp", HOTP_SEED))
    p = make()
    by_hotp = await p.handle(req(b"alice", b"pw," + hotp(HOTP_SEED, 0)), now=NOW)
    by_totp = await p.handle(req(b"alice", b"pw," + code_at(NOW)), now=NOW)
    assert (by_hotp.verdict, by_totp.verdict) == (Verdict.ACCEPT, Verdict.ACCEPT)
    assert (by_hotp.factor, by_totp.factor) == ("hotp", "totp")


async def test_every_method_a_decision_names_is_in_the_vocabulary(env):  # noqa: F811
    make, _, _ = env
    p = make(unknown_users="password-only")
    decisions = [
        await p.handle(req(b"alice", b"pw"), now=NOW),
        await p.handle(req(b"stranger", b"pw"), now=NOW),
        await p.handle(req(b"nofactor", b"pw"), now=NOW),
        await p.handle(req(b"alice", b"wrong"), now=NOW),
    ]
    # "" is a reject before any second factor: the listener records it as "none".
    assert all(d.factor in (*AUDIT_METHODS, "") for d in decisions), [d.factor for d in decisions]
    assert "otp" not in AUDIT_METHODS and {"totp", "hotp", "none"} <= set(AUDIT_METHODS)
