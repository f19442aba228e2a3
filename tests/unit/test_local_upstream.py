"""The local upstream (argon2 hashes in the store) through the pipeline: a
name not in the store is audited `unknown user`, as on every upstream, and
costs the same password check as a known one, so the reply does not tell."""

from __future__ import annotations

import pytest

from radmfa.config import MfaConfig, PasswordsConfig
from radmfa.core.model import AuthRequest, NewUser, Verdict
from radmfa.core.pipeline import Pipeline
from radmfa.store import open_store
from radmfa.upstream import passwords
from radmfa.upstream.local import LocalUpstream
from radmfa.upstream.passwords import Passwords, hash_password
from tests.fakes.ports import make_pipeline
from tests.unit.test_pipeline import NOW


def req(user: bytes, password: bytes) -> AuthRequest:
    return AuthRequest("r1", "nas1", "10.0.0.1", user, password, None, "", bytes(16), ())


@pytest.fixture
async def env(tmp_path, monkeypatch):
    store = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("alice", password_hash=hash_password("alice-pw")))
    await store.add_user(NewUser("carol"))  # in the store, no local password
    checked: list[str] = []
    verify = passwords._verify

    def counting(hasher: object, password_hash: str, password: bytes) -> bool:
        checked.append(password_hash)
        return verify(hasher, password_hash, password)  # type: ignore[arg-type]

    monkeypatch.setattr(passwords, "_verify", counting)

    def make(unknown_users: str) -> Pipeline:
        cfg = MfaConfig(unknown_users=unknown_users)  # type: ignore[arg-type]
        return make_pipeline(cfg, LocalUpstream(store, Passwords(PasswordsConfig(), store)), store, prompt="code")

    yield make, checked
    await store.close()


@pytest.mark.parametrize("unknown_users", ["reject", "password-only"])
@pytest.mark.parametrize("password", [b"alice-pw", b"wrong"])
async def test_a_name_not_in_the_store_is_an_unknown_user(env, unknown_users, password):
    make, _ = env
    d = await make(unknown_users).handle(req(b"zed", password), now=NOW)
    assert (d.verdict, d.reason, d.local) == (Verdict.REJECT, "unknown user", True)


@pytest.mark.parametrize("unknown_users", ["reject", "password-only"])
async def test_known_users_keep_their_reasons(env, unknown_users):
    make, _ = env
    p = make(unknown_users)
    assert (await p.handle(req(b"alice", b"wrong"), now=NOW)).reason == "wrong password"
    assert (await p.handle(req(b"carol", b"x"), now=NOW)).reason == "no local password"


async def test_every_name_costs_one_password_check(env):
    make, checked = env
    p = make("reject")
    for name in (b"alice", b"carol", b"zed"):
        await p.handle(req(name, b"wrong"), now=NOW)
    assert len(checked) == 3  # an argon2 verification each, known or not
    assert all(h.startswith("$argon2") for h in checked)
