"""The directory and the store must agree on who logs in.

slapd matches uid with caseIgnoreMatch (RFC 4518: width folded, insignificant
spaces), AD ignores width; a name the directory takes for alice but the store
does not would be an unknown user, and with [mfa] unknown_users =
"password-only" get in on alice's password alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from radmfa.config import MfaConfig
from radmfa.core.model import AuthRequest, Decision, NewToken, NewUser, Verdict
from radmfa.core.policy import name_key
from radmfa.store import open_store
from radmfa.upstream.ldap import LdapUpstream
from tests.fakes.ports import make_pipeline
from tests.integration.test_ldap_upstream import make_upstream, request, search_cfg
from tests.peers.slapd import PEOPLE, Slapd
from tests.unit.test_pipeline import NOW, SEED

pytestmark = pytest.mark.integration

NAMES = [
    "\uff41\uff4c\uff49\uff43\uff45",  # ａｌｉｃｅ
    "\uff41lice",
    "al\u00adice",  # soft hyphen (RFC 4518 §2.2 maps it to nothing)
    "ali\u200bce",  # zero-width space
    "alice\u2003",  # em space
    "\u212alice",  # Kelvin sign
    "Alice Liddell",  # her cn: only with a filter that also matches cn
]


def tls(slapd: Slapd) -> str:
    return f'ca_file = "{slapd.pki.ca_file}"\n'


def search_upstream(slapd: Slapd, tmp_path: Path) -> LdapUpstream:
    # uid or cn: a directory that knows a user under more than one name
    body = search_cfg(f'"{slapd.ldaps_url}"', tls(slapd)).replace(
        "(uid={user})", "(|(uid={user})(cn={user}))"
    ) + 'user_attribute = "uid"\n'
    return make_upstream(tmp_path, body)


def template_upstream(slapd: Slapd, tmp_path: Path) -> LdapUpstream:
    return make_upstream(
        tmp_path, f'type = "ldap"\nservers = ["{slapd.ldaps_url}"]\nbind_dn_template = "uid={{user}},{PEOPLE}"\n'
        f"{tls(slapd)}timeout_s = 10\n"
    )


async def login(up: LdapUpstream, tmp_path: Path, name: str, password: bytes, **mfa: object) -> Decision:
    store = await open_store("sqlite:///p.db", key_file=tmp_path / "k", base_dir=tmp_path)
    try:
        await store.add_user(NewUser("alice"))
        await store.add_token("alice", NewToken("totp", SEED))  # alice is enrolled
        p = make_pipeline(MfaConfig(unknown_users="password-only", **mfa), up, store,  # type: ignore[arg-type]
                          prompt="code")
        request = AuthRequest("r1", "nas", "10.0.0.1", name.encode(), password, None, "", bytes(16), ())
        return await p.handle(request, now=NOW)
    finally:
        await store.close()
        await up.close()


@pytest.mark.parametrize("mode", ["search", "template"])
@pytest.mark.parametrize("name", NAMES)
def test_another_spelling_never_skips_alices_second_factor(slapd, tmp_path, mode, name):
    up = search_upstream(slapd, tmp_path) if mode == "search" else template_upstream(slapd, tmp_path)
    d = asyncio.run(login(up, tmp_path, name, b"alice-pw"))
    assert d.verdict is not Verdict.ACCEPT, d.reason
    if d.verdict is Verdict.CHALLENGE:  # the store found alice: her code is asked for
        assert d.user is not None and d.user.name == "alice"


@pytest.mark.parametrize("mode", ["search", "template"])
@pytest.mark.parametrize("name", NAMES)
def test_the_upstream_says_who_logged_in(slapd, tmp_path, mode, name):
    up = search_upstream(slapd, tmp_path) if mode == "search" else template_upstream(slapd, tmp_path)

    async def run() -> tuple[bool, str | None]:
        try:
            r = await up.authenticate(request(name), b"alice-pw")
            return r.accepted, r.canonical_name
        finally:
            await up.close()

    accepted, canonical = asyncio.run(run())
    assert not accepted or canonical == "alice"


def test_a_name_the_directory_maps_but_the_store_does_not_is_rejected(slapd, tmp_path):
    # The cn finds alice's entry; the store has no "alice liddell": before the
    # check this was "password only (unknown user)".
    d = asyncio.run(login(search_upstream(slapd, tmp_path), tmp_path, "Alice Liddell", b"alice-pw"))
    assert (d.verdict, d.reason) == (Verdict.REJECT, "directory names another user")


def test_fullwidth_name_is_alice_and_gets_her_challenge(slapd, tmp_path):
    up = make_upstream(tmp_path, search_cfg(f'"{slapd.ldaps_url}"', tls(slapd)))
    d = asyncio.run(login(up, tmp_path, "\uff41\uff4c\uff49\uff43\uff45", b"alice-pw"))
    assert d.verdict is Verdict.CHALLENGE and d.user is not None and d.user.name == "alice"
    assert name_key("\uff41\uff4c\uff49\uff43\uff45") == "alice"


def test_an_entry_with_two_user_names_is_refused(slapd, tmp_path):
    # uid is multi-valued in OpenLDAP: either value would name the user, and
    # only one of them is the radmfa user.
    slapd.modify(f"dn: uid=bob,{PEOPLE}\nchangetype: modify\nadd: uid\nuid: builder\n")
    try:
        up = make_upstream(tmp_path, search_cfg(f'"{slapd.ldaps_url}"', tls(slapd)))

        async def run() -> tuple[bool, str]:
            try:
                r = await up.authenticate(request("builder"), b"bob-pw")
                return r.accepted, r.reason
            finally:
                await up.close()

        assert asyncio.run(run()) == (False, "entry has no single uid")
    finally:
        slapd.modify(f"dn: uid=bob,{PEOPLE}\nchangetype: modify\ndelete: uid\nuid: builder\n")
