"""The admin's controls in the pipeline: fake upstream, fake clock, real SQLite store."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.config import CacheRule, ClientPolicy, MfaConfig, PasswordsConfig
from radmfa.core import exemptions
from radmfa.core.controls import AdminControls
from radmfa.core.model import (
    AuthRequest,
    Decision,
    ExemptionView,
    NewToken,
    NewUser,
    Phase,
    Session,
    User,
    UserState,
    Verdict,
)
from radmfa.core.pipeline import Pipeline
from radmfa.radius import wire
from radmfa.service.policies import PolicyTable
from radmfa.store import open_store
from radmfa.upstream.passwords import Passwords, hash_app_password
from tests.fakes.ports import FakeUpstream, make_pipeline
from tests.unit.test_pipeline import SEED, code_at, state_of

NOW = datetime(2026, 11, 22, 8, 55, 0, tzinfo=UTC)
TRUSTED = (ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32"))


def req(
    user: bytes = b"alice",
    password: bytes | None = b"pw",
    *,
    station: str = "198.51.100.9",
    client: str = "vpn1",
    state: bytes | None = None,
    attrs: tuple[tuple[int, bytes], ...] = (),
) -> AuthRequest:
    return AuthRequest("r1", client, "10.0.0.1", user, password, state, station, bytes(16), attrs)


@pytest.fixture
async def env(tmp_path):
    store = await open_store("sqlite:///c.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("alice"))
    await store.add_token("alice", NewToken("totp", SEED))
    await store.add_user(NewUser("newbie"))
    upstream = FakeUpstream(passwords={b"alice": b"pw", b"newbie": b"pw", b"stranger": b"pw"})

    def make(clients: dict[str, ClientPolicy] | None = None, **mfa: object) -> Pipeline:
        mfa.setdefault("trusted_networks", TRUSTED)
        cfg = MfaConfig(**mfa)  # type: ignore[arg-type]
        return make_pipeline(cfg, upstream, store, clients=clients or {"vpn1": ClientPolicy("vpn1", remember_days=0)})

    yield make, upstream, store
    await store.close()


async def mfa_login(p: Pipeline, when: datetime, **kw: object) -> Decision:
    """A complete MFA success: password, challenge, right code."""
    d = await p.handle(req(**kw), now=when)  # type: ignore[arg-type]
    assert d.verdict is Verdict.CHALLENGE, d.reason
    kw = {k: v for k, v in kw.items() if k != "password"}
    ok = await p.handle(req(password=code_at(when), state=state_of(d), **kw), now=when)  # type: ignore[arg-type]
    assert ok.verdict is Verdict.ACCEPT, ok.reason
    return ok


# -- user states -------------------------------------------------------------------


async def test_disabled_user_needs_only_the_password(env):
    make, upstream, store = env
    await store.update_user("alice", {"state": UserState.DISABLED})
    d = await make().handle(req(), now=NOW)
    assert d.verdict is Verdict.ACCEPT and d.reason == "user-disabled" and (11, b"vpn") in d.attrs
    bad = await make().handle(req(password=b"nope"), now=NOW)
    assert bad.verdict is Verdict.REJECT  # the password still counts


async def test_blocked_user_rejected_before_upstream_until_blocked_until(env):
    make, upstream, store = env
    until = NOW + timedelta(minutes=5)
    await store.update_user("alice", {"state": UserState.BLOCKED, "blocked_until": until, "blocked_reason": "fraud"})
    p = make()
    d = await p.handle(req(), now=until - timedelta(seconds=1))
    assert d.verdict is Verdict.REJECT and d.reason == "blocked-fraud" and upstream.calls == []
    after = await p.handle(req(), now=until)
    assert after.verdict is Verdict.CHALLENGE  # lifted exactly at blocked_until, MFA as before


@pytest.mark.parametrize(
    ("policy", "verdict", "reason", "message"),
    [
        ("allow", Verdict.ACCEPT, "new-user: password only until enrolled", False),
        ("enroll", Verdict.REJECT, "new-user: no factor enrolled", True),
        ("deny", Verdict.REJECT, "new-user: no factor enrolled", False),
    ],
)
async def test_new_user_policy(env, policy, verdict, reason, message):
    make, _, store = env
    d = await make(new_user=policy).handle(req(b"newbie"), now=NOW)
    assert (d.verdict, d.reason) == (verdict, reason)
    assert (wire.REPLY_MESSAGE in dict(d.attrs)) is message
    wrong = await make(new_user=policy).handle(req(b"newbie", b"bad"), now=NOW)
    assert wrong.verdict is Verdict.REJECT


async def test_enforced_user_without_factor_never_gets_new_user_allow(env):
    make, _, store = env
    await store.update_user("newbie", {"state": UserState.ENFORCED})
    d = await make(new_user="allow").handle(req(b"newbie"), now=NOW)
    assert d.verdict is Verdict.REJECT and d.reason == "no factor enrolled"


async def test_empty_password_never_skips(env):
    make, upstream, store = env
    upstream.passwords[b"alice"] = b""  # an upstream that (wrongly) accepts an empty password
    upstream.passwords[b"newbie"] = b""
    await store.create_bypass("alice", seconds=60, reason="r", created_by="h", now=NOW)
    p = make(cache=(CacheRule("user", 600),))
    await mfa_login(p, NOW - timedelta(seconds=30), password=b"")  # even a real MFA success first
    for state in (UserState.DISABLED, UserState.ENABLED):
        await store.update_user("alice", {"state": state})
        d = await p.handle(req(password=b"", station="192.0.2.1"), now=NOW)  # trusted, cached, bypass open
        assert d.verdict is Verdict.CHALLENGE, state
    assert (await store.list_bypasses("alice"))[0].used_at is None  # not consumed
    newbie = await make(new_user="allow").handle(req(b"newbie", b""), now=NOW)
    assert newbie.verdict is Verdict.REJECT and newbie.reason == "no factor enrolled"


# -- trusted networks --------------------------------------------------------------


async def test_trusted_network_skips_the_factor_not_the_password(env):
    make, upstream, _ = env
    p = make()
    d = await p.handle(req(station="192.0.2.44"), now=NOW)
    assert d.verdict is Verdict.ACCEPT and d.reason == "trusted-network" and upstream.calls == [b"pw"]
    assert (await p.handle(req(station="2001:db8::1"), now=NOW)).reason == "trusted-network"
    bad = await p.handle(req(password=b"nope", station="192.0.2.44"), now=NOW)
    assert bad.verdict is Verdict.REJECT
    outside = await p.handle(req(station="192.0.3.1"), now=NOW)
    assert outside.verdict is Verdict.CHALLENGE


async def test_trusted_network_reads_the_clients_attribute(env):
    make, _, _ = env
    framed = ((wire.FRAMED_IP_ADDRESS, bytes([192, 0, 2, 5])),)
    p = make({"vpn1": ClientPolicy("vpn1", user_ip_attribute="Framed-IP-Address", remember_days=0)})
    assert (await p.handle(req(station="203.0.113.1", attrs=framed), now=NOW)).reason == "trusted-network"
    # the same request on a client reading Calling-Station-Id is not trusted
    assert (await make().handle(req(station="203.0.113.1", attrs=framed), now=NOW)).verdict is Verdict.CHALLENGE


# -- bypass ------------------------------------------------------------------------


async def test_bypass_used_exactly_once_and_only_with_the_password(env):
    make, _, store = env
    p = make()
    await store.create_bypass("alice", seconds=60, reason="phone died", created_by="helpdesk", now=NOW)
    wrong = await p.handle(req(password=b"nope"), now=NOW)
    assert wrong.verdict is Verdict.REJECT
    assert (await store.list_bypasses("alice"))[0].used_at is None  # a wrong password consumes nothing
    d = await p.handle(req(), now=NOW + timedelta(seconds=1))
    assert d.verdict is Verdict.ACCEPT and d.reason == "bypass"
    again = await p.handle(req(), now=NOW + timedelta(seconds=2))
    assert again.verdict is Verdict.CHALLENGE
    used = (await store.list_bypasses("alice"))[0]
    assert used.used_client == "vpn1" and used.used_station == "198.51.100.9"


async def test_bypass_window_edges(env):
    make, _, store = env
    p = make()
    await store.create_bypass("alice", seconds=60, reason="r", created_by="h", now=NOW)
    assert (await p.handle(req(), now=NOW - timedelta(seconds=1))).verdict is Verdict.CHALLENGE  # not yet
    assert (await p.handle(req(), now=NOW + timedelta(seconds=60))).verdict is Verdict.CHALLENGE  # ended
    assert (await p.handle(req(), now=NOW + timedelta(seconds=59))).reason == "bypass"


# -- cache -------------------------------------------------------------------------


async def test_cache_hit_in_window_miss_after_never_on_wrong_password(env):
    make, upstream, _ = env
    p = make(cache=(CacheRule("user+client", 600),))
    await mfa_login(p, NOW)
    hit = await p.handle(req(), now=NOW + timedelta(seconds=599))
    assert hit.verdict is Verdict.ACCEPT and hit.reason == "cache" and (11, b"vpn") in hit.attrs
    assert upstream.calls[-1] == b"pw"  # the password is checked every time
    wrong = await p.handle(req(password=b"nope"), now=NOW + timedelta(seconds=10))
    assert wrong.verdict is Verdict.REJECT
    other_client = await p.handle(req(client="vpn2"), now=NOW + timedelta(seconds=10))
    assert other_client.verdict is Verdict.CHALLENGE
    miss = await p.handle(req(), now=NOW + timedelta(seconds=600))
    assert miss.verdict is Verdict.CHALLENGE


async def test_cache_hits_do_not_refresh_the_cache(env):
    make, _, _ = env
    p = make(cache=(CacheRule("user", 60),))
    await mfa_login(p, NOW)
    assert (await p.handle(req(), now=NOW + timedelta(seconds=50))).reason == "cache"
    assert (await p.handle(req(), now=NOW + timedelta(seconds=61))).verdict is Verdict.CHALLENGE


async def test_cache_per_station(env):
    make, _, _ = env
    p = make(cache=(CacheRule("user+station", 300),))
    await mfa_login(p, NOW, station="198.51.100.9")
    assert (await p.handle(req(station="198.51.100.9"), now=NOW + timedelta(seconds=5))).reason == "cache"
    assert (await p.handle(req(station="198.51.100.10"), now=NOW)).verdict is Verdict.CHALLENGE
    assert (await p.handle(req(station=""), now=NOW)).verdict is Verdict.CHALLENGE


# -- remembered devices ------------------------------------------------------------


async def test_remembered_device_then_forget(env):
    make, _, store = env
    p = make({"vpn1": ClientPolicy("vpn1", remember_days=14)})
    await mfa_login(p, NOW)
    later = NOW + timedelta(days=13)
    assert (await p.handle(req(), now=later)).reason == "remembered-device"
    assert (await p.handle(req(station="198.51.100.10"), now=later)).verdict is Verdict.CHALLENGE
    assert (await p.handle(req(), now=NOW + timedelta(days=14))).verdict is Verdict.CHALLENGE
    assert [d.station for d in await store.list_devices("alice")] == ["198.51.100.9"]
    assert await store.forget_devices("alice", "198.51.100.9") == 1
    assert (await p.handle(req(), now=later)).verdict is Verdict.CHALLENGE


async def test_remember_days_zero_remembers_nothing(env):
    make, _, store = env
    p = make()  # remember_days = 0 in the fixture
    await mfa_login(p, NOW)
    assert await store.list_devices("alice") == []
    assert (await p.handle(req(), now=NOW + timedelta(seconds=1))).verdict is Verdict.CHALLENGE


async def test_station_cache_and_device_stay_on_the_nas_that_saw_them(env):
    # Calling-Station-Id is whatever a NAS puts there: a VPN's observed public
    # address on one, a client-chosen MAC on another. A station that passed MFA
    # through vpn1 must not let a login through wifi skip it by sending the
    # same value.
    make, _, _ = env
    clients = {name: ClientPolicy(name, remember_days=14) for name in ("vpn1", "wifi")}
    p = make(clients, cache=(CacheRule("user+station", 300),))
    await mfa_login(p, NOW, station="198.51.100.9")
    assert (await p.handle(req(station="198.51.100.9"), now=NOW + timedelta(seconds=5))).reason == "cache"
    spoofed = await p.handle(req(station="198.51.100.9", client="wifi"), now=NOW + timedelta(seconds=5))
    assert spoofed.verdict is Verdict.CHALLENGE, spoofed.reason
    later = NOW + timedelta(days=1)
    assert (await p.handle(req(station="198.51.100.9"), now=later)).reason == "remembered-device"
    spoofed = await p.handle(req(station="198.51.100.9", client="wifi"), now=later)
    assert spoofed.verdict is Verdict.CHALLENGE, spoofed.reason


async def test_forgetting_one_station_also_ends_its_cached_logins(env):
    make, _, store = env
    p = make({"vpn1": ClientPolicy("vpn1", remember_days=14)}, cache=(CacheRule("user+station", 3600),))
    await mfa_login(p, NOW)
    assert await store.forget_devices("alice", "198.51.100.9") == 1
    d = await p.handle(req(), now=NOW + timedelta(seconds=5))
    assert d.verdict is Verdict.CHALLENGE, d.reason


# -- lockout -----------------------------------------------------------------------


async def test_lockout_after_n_failures_then_expiry(env):
    make, upstream, store = env
    p = make(lockout_failures=3, lockout_minutes=15, max_attempts=10)
    p.otp.max_failures = 100  # type: ignore[attr-defined]  (the token lock is another test's)
    d = await p.handle(req(), now=NOW)
    for _ in range(2):
        d = await p.handle(req(password=b"000000", state=state_of(d)), now=NOW)
        assert d.verdict is Verdict.CHALLENGE
    locked = await p.handle(req(password=b"000000", state=state_of(d)), now=NOW)
    assert locked.verdict is Verdict.REJECT and locked.reason == "lockout"
    user = await store.get_user("alice")
    assert user.state is UserState.BLOCKED and user.blocked_reason == "lockout"
    assert user.blocked_until == NOW + timedelta(minutes=15)
    calls = len(upstream.calls)
    right = await p.handle(req(password=b"pw," + code_at(NOW)), now=NOW + timedelta(minutes=1))
    assert right.verdict is Verdict.REJECT and right.reason == "lockout" and len(upstream.calls) == calls
    later = NOW + timedelta(minutes=15)
    assert (await p.handle(req(password=b"pw," + code_at(later)), now=later)).verdict is Verdict.ACCEPT


async def test_success_resets_the_failure_count(env):
    make, _, store = env
    p = make(lockout_failures=3, lockout_minutes=0)
    for i in range(2):
        assert (await p.handle(req(password=b"pw,000000"), now=NOW + timedelta(seconds=i))).reason != "lockout"
    await mfa_login(p, NOW + timedelta(seconds=30))
    for i in range(2):
        d = await p.handle(req(password=b"pw,000000"), now=NOW + timedelta(seconds=60 + i))
        assert d.reason != "lockout"
    third = await p.handle(req(password=b"pw,000000"), now=NOW + timedelta(seconds=90))
    assert third.reason == "lockout"
    user = await store.get_user("alice")
    assert user.blocked_until is None  # lockout_minutes = 0: until unblocked


async def test_blocked_mid_challenge_cannot_finish(env):
    make, _, store = env
    p = make()
    d = await p.handle(req(), now=NOW)
    await store.update_user("alice", {"state": UserState.BLOCKED, "blocked_reason": "set by an administrator"})
    r = await p.handle(req(password=code_at(NOW), state=state_of(d)), now=NOW)
    assert r.verdict is Verdict.REJECT and r.reason == "blocked"


# -- app passwords -----------------------------------------------------------------


async def add_app_password(store, name: str = "Laptop") -> str:
    password = exemptions.new_app_password()
    await store.add_app_password(
        "alice",
        name=name,
        lookup=exemptions.lookup_of(password),
        password_hash=await hash_app_password(password),
        limit=40,
        now=NOW,
    )
    return password


async def test_app_password_accepts_without_upstream_or_factor(env):
    make, upstream, store = env
    password = await add_app_password(store)
    p = make(app_passwords=True)
    d = await p.handle(req(password=password.lower().replace("-", "").encode()), now=NOW)
    assert d.verdict is Verdict.ACCEPT and d.reason == "app-password" and upstream.calls == []
    assert (await store.list_app_passwords("alice"))[0].last_used_at == NOW
    wrong = password[:5] + "-AAAAA-AAAAA-AAAAA"  # right lookup prefix, wrong rest
    bad = await p.handle(req(password=wrong.encode()), now=NOW)
    assert bad.verdict is Verdict.REJECT and bad.reason == "app-password wrong" and upstream.calls == []


async def test_app_password_off_by_default_and_denied_per_client_and_for_admin_logins(env):
    make, upstream, store = env
    password = (await add_app_password(store)).encode()
    off = await make().handle(req(password=password), now=NOW)
    assert off.verdict is Verdict.REJECT and upstream.calls == [password]  # just a wrong password upstream
    deny = make({"vpn1": ClientPolicy("vpn1", app_passwords="deny", remember_days=0)}, app_passwords=True)
    assert (await deny.handle(req(password=password), now=NOW)).verdict is Verdict.REJECT
    admin = ((wire.SERVICE_TYPE, (6).to_bytes(4, "big")),)
    on = make(app_passwords=True)
    assert (await on.handle(req(password=password, attrs=admin), now=NOW)).verdict is Verdict.REJECT


async def test_app_password_required_on_a_client(env):
    make, upstream, store = env
    password = (await add_app_password(store)).encode()
    p = make({"vpn1": ClientPolicy("vpn1", app_passwords="require", remember_days=0)}, app_passwords=True)
    d = await p.handle(req(), now=NOW)
    assert d.verdict is Verdict.REJECT and d.reason == "app-password required" and upstream.calls == []
    assert (await p.handle(req(password=password), now=NOW)).reason == "app-password"
    stranger = exemptions.new_app_password().encode()  # app-password shaped, but not one of alice's
    d = await p.handle(req(password=stranger), now=NOW)
    assert d.verdict is Verdict.REJECT and d.reason == "app-password required" and upstream.calls == []


async def test_blocked_user_cannot_use_an_app_password(env):
    make, _, store = env
    password = (await add_app_password(store)).encode()
    await store.update_user("alice", {"state": UserState.BLOCKED})
    d = await make(app_passwords=True).handle(req(password=password), now=NOW)
    assert d.verdict is Verdict.REJECT and d.reason == "blocked"


async def test_inline_code_feeds_the_cache_and_clears_failures_with_its_step(env):
    make, _, store = env
    p = make(cache=(CacheRule("user", 300),), lockout_failures=3)
    wrong = await p.handle(req(password=b"pw,000000"), now=NOW)
    assert wrong.verdict is Verdict.REJECT
    ok = await p.handle(req(password=b"pw," + code_at(NOW)), now=NOW)
    assert ok.verdict is Verdict.ACCEPT and ok.reason == "password and inline code"
    user = await store.get_user("alice")
    assert await store.note_mfa_failure(user.id, now=NOW) == 1  # the wrong code's count was cleared
    hit = await p.handle(req(), now=NOW + timedelta(seconds=60))
    assert hit.verdict is Verdict.ACCEPT and hit.reason == "cache"
    assert (await p.handle(req(), now=NOW + timedelta(seconds=301))).verdict is Verdict.CHALLENGE


async def test_a_code_that_cannot_accept_its_challenge_writes_no_success(env):
    make, _, _ = env
    p = make(cache=(CacheRule("user", 300),))
    d = await p.handle(req(), now=NOW)
    assert d.verdict is Verdict.CHALLENGE
    found = Session(
        state=state_of(d), client="vpn1", username=b"alice", factor="totp", attempts=0,
        expires_at=NOW, reply_attrs=(), phase=Phase.AWAITING_CODE,
    )
    assert p.challenges.accepts(found, now=NOW - timedelta(seconds=1))
    assert not p.challenges.accepts(found, now=NOW)  # expired: a right code would not accept it
    assert not p.challenges.accepts(replace(found, phase=Phase.ACCEPTED), now=NOW - timedelta(seconds=1))


def _fresh_place(controls, request: AuthRequest) -> tuple[object, ...]:
    """AdminControls.place worked out from scratch (no kept places)."""
    controls._places.clear()
    return tuple(controls.place(request))


async def test_a_kept_place_equals_one_worked_out_afresh(env):
    make, _, _ = env
    rules = (CacheRule("user", 60), CacheRule("user+client", 120), CacheRule("station", 300))
    clients = {"vpn1": ClientPolicy("vpn1", remember_days=7), "vpn2": ClientPolicy("vpn2", remember_days=0)}
    controls = make(clients, cache=rules).controls
    requests = [req(client=c, station=s) for c in ("vpn1", "vpn2", "other") for s in ("198.51.100.9", "", "192.0.2.1")]
    for r in requests + requests:  # the second round from the kept places
        kept = controls.place(r)
        assert tuple(kept) == _fresh_place(controls, r)
        assert controls.place(r) is controls.place(r)  # kept: the same object again
    assert controls.place(req(station="")).scope_names == ("0:user", "1:client:vpn1")
    assert controls.place(req(station="")).remembered_station == ""
    assert controls.place(req()).scope_names == ("0:user", "1:client:vpn1", "2:station:vpn1:198.51.100.9")
    assert controls.place(req()).remembered_station == "198.51.100.9"


async def test_a_kept_place_follows_clients_conf_and_the_settings(env):
    make, _, _ = env
    p = make({"vpn1": ClientPolicy("vpn1", remember_days=7)}, cache=(CacheRule("user", 60),))
    controls = p.controls
    before = controls.place(req())
    assert before.remembered_station == "198.51.100.9" and before.scope_names == ("0:user",)
    p.policies.replace({"vpn1": ClientPolicy("vpn1", remember_days=0, user_ip_attribute="source")})  # type: ignore[attr-defined]
    reloaded = controls.place(req())
    assert reloaded.station == "10.0.0.1" and reloaded.remembered_station == ""
    p.use_settings(replace(controls.mfa, cache=(CacheRule("user+client", 60),)))
    assert controls.place(req()).scope_names == ("0:client:vpn1",)


async def test_kept_places_are_bounded(env, monkeypatch):
    from radmfa.core import controls as controls_module

    make, _, _ = env
    monkeypatch.setattr(controls_module, "PLACES_KEPT", 8)
    controls = make().controls
    for i in range(50):
        assert controls.place(req(station=f"198.51.100.{i}")).station == f"198.51.100.{i}"
        assert len(controls._places) <= 8


class _ViewStore:
    """A store that answers exemption_view with one view and has nothing else."""

    def __init__(self, view: ExemptionView) -> None:
        self.view = view

    async def exemption_view(self, *_: object, **__: object) -> ExemptionView:
        return self.view


@pytest.mark.parametrize("station", ["198.51.100.9", "192.0.2.7"])  # trusted or not
@pytest.mark.parametrize("has_factor", [True, False])
@pytest.mark.parametrize("password_ok", [True, False])
async def test_exempt_read_decides_as_exempt_reading_the_store(station, has_factor, password_ok):
    mfa = MfaConfig(trusted_networks=TRUSTED, cache=(CacheRule("user", 600),))
    clients = {"vpn1": ClientPolicy("vpn1", remember_days=7)}
    policies, passwords = PolicyTable(clients), Passwords(PasswordsConfig(), None)  # type: ignore[arg-type]
    ended = NOW - timedelta(seconds=1)
    users = [
        User(1, "alice", state=UserState.ENABLED), User(1, "alice", state=UserState.DISABLED),
        User(1, "alice", state=UserState.ENFORCED), User(1, "alice", state=UserState.BLOCKED),
        User(1, "alice", state=UserState.BLOCKED, blocked_until=ended, state_before_block=UserState.DISABLED),
        User(1, "alice", state=UserState.BLOCKED, blocked_until=ended),
    ]
    views = [
        ExemptionView(), ExemptionView(cache={"0:user": NOW - timedelta(seconds=60)}),
        ExemptionView(cache={"0:user": NOW - timedelta(seconds=601)}), ExemptionView(cache={"other": NOW}),
        ExemptionView(remembered_at=NOW - timedelta(days=1)), ExemptionView(remembered_at=NOW - timedelta(days=8)),
        ExemptionView(remembered_at=NOW + timedelta(seconds=5)),
    ]
    request = req(station=station)
    for user in users:
        for view in views:
            controls = AdminControls(mfa, _ViewStore(view), policies, passwords)  # type: ignore[arg-type]
            kw = {"password_ok": password_ok, "has_factor": has_factor, "attrs": ((11, b"vpn"),), "now": NOW}
            read = controls.exempt_read(request, user, view=view, place=controls.place(request), **kw)
            assert read == await controls.exempt(request, user, **kw), (user, view)  # the view from the store
            assert read == await controls.exempt(request, user, view=view, **kw)


async def test_blocked_reads_the_state_only_of_a_blocked_user(monkeypatch):
    calls = []
    real = exemptions.effective_state
    monkeypatch.setattr(exemptions, "effective_state", lambda user, *, now: calls.append(user) or real(user, now=now))
    for state in (UserState.ENABLED, UserState.DISABLED, UserState.ENFORCED):
        assert AdminControls.blocked(User(1, "a", state=state), now=NOW) is None
    assert calls == []
    assert AdminControls.blocked(User(1, "a", state=UserState.BLOCKED), now=NOW) is not None
    ended = User(1, "a", state=UserState.BLOCKED, blocked_until=NOW)
    assert AdminControls.blocked(ended, now=NOW) is None and len(calls) == 2
