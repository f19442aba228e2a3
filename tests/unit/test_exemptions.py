"""core/exemptions.py: each rule and its boundaries, with `now` passed in."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.config import CacheRule, ClientPolicy
from radmfa.core import exemptions
from radmfa.core.exemptions import Rule
from radmfa.core.model import AuthRequest, User, UserState
from radmfa.radius import wire

NOW = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


def request(*, station: str = "", attrs: tuple[tuple[int, bytes], ...] = (), source: str = "10.9.9.9") -> AuthRequest:
    return AuthRequest("r", "vpn1", source, b"alice", b"pw", None, station, bytes(16), attrs)


# -- user state ------------------------------------------------------------------


def test_block_lifts_exactly_at_blocked_until():
    until = NOW + timedelta(minutes=15)
    user = User(1, "alice", state=UserState.BLOCKED, blocked_until=until, blocked_reason="lockout")
    assert exemptions.effective_state(user, now=until - timedelta(microseconds=1)) is UserState.BLOCKED
    assert exemptions.effective_state(user, now=until) is UserState.ENFORCED
    assert exemptions.block_rule(user) == "lockout"
    fraud = User(1, "alice", state=UserState.BLOCKED, blocked_reason="fraud")
    assert exemptions.block_rule(fraud) == "blocked-fraud"


def test_a_lifted_block_restores_the_state_before_it():
    until = NOW + timedelta(minutes=15)
    for before in (UserState.ENABLED, UserState.ENFORCED, UserState.DISABLED):
        user = User(1, "alice", state=UserState.BLOCKED, blocked_until=until, state_before_block=before)
        assert exemptions.effective_state(user, now=until - timedelta(microseconds=1)) is UserState.BLOCKED
        assert exemptions.effective_state(user, now=until) is before
    # a block from before the state was kept: MFA always, as before
    assert exemptions.effective_state(User(1, "a", state=UserState.BLOCKED, blocked_until=until), now=until) is (
        UserState.ENFORCED
    )


def test_block_without_end_stays_and_other_states_pass_through():
    user = User(1, "alice", state=UserState.BLOCKED, blocked_reason="set by an administrator")
    assert exemptions.effective_state(user, now=NOW + timedelta(days=9999)) is UserState.BLOCKED
    assert exemptions.block_rule(user) == "blocked"
    for state in (UserState.ENABLED, UserState.DISABLED, UserState.ENFORCED):
        assert exemptions.effective_state(User(1, "a", state=state), now=NOW) is state


def test_lockout_threshold_and_until():
    assert not exemptions.locks_out(4, 5)
    assert exemptions.locks_out(5, 5) and exemptions.locks_out(6, 5)
    assert not exemptions.locks_out(1000, 0)  # 0 = lockout off
    assert exemptions.lockout_until(15, now=NOW) == NOW + timedelta(minutes=15)
    assert exemptions.lockout_until(0, now=NOW) is None  # until unblocked


# -- where the end user is -------------------------------------------------------


def test_user_address_per_attribute():
    r = request(station=" 192.0.2.7 ", attrs=((wire.FRAMED_IP_ADDRESS, bytes([198, 51, 100, 4])),))
    assert exemptions.user_address(r, "Calling-Station-Id") == "192.0.2.7"
    assert exemptions.user_address(r, "Framed-IP-Address") == "198.51.100.4"
    assert exemptions.user_address(r, "source") == "10.9.9.9"
    assert exemptions.user_address(request(), "Framed-IP-Address") == ""
    assert exemptions.user_address(request(attrs=((8, b"\x01\x02"),)), "Framed-IP-Address") == ""


def test_trusted_networks_v4_v6_mapped_and_edges():
    nets = exemptions.TrustedNetworks(
        ipaddress.ip_network(n) for n in ("192.0.2.0/24", "10.0.0.0/8", "2001:db8::/32", "198.51.100.7/32")
    )
    assert len(nets) == 4
    for inside in (
        "192.0.2.0",
        "192.0.2.255",
        "10.255.255.255",
        "2001:db8:ffff::1",
        "198.51.100.7",
        "::ffff:192.0.2.9",
        "[2001:db8::5]",
    ):
        assert inside in nets, inside
    for outside in (
        "192.0.3.0",
        "192.0.1.255",
        "11.0.0.0",
        "2001:db9::1",
        "198.51.100.8",
        "",
        "aa:bb:cc:dd:ee:ff",
        "not an ip",
    ):
        assert outside not in nets, outside
    assert "192.0.2.1" not in exemptions.TrustedNetworks([])


def test_trusted_networks_many_entries():
    nets = exemptions.TrustedNetworks(ipaddress.ip_network(f"10.{i // 256}.{i % 256}.0/24") for i in range(20000))
    assert "10.78.31.200" in nets  # i = 78 * 256 + 31
    assert "10.78.32.1" not in nets  # 78 * 256 + 32 = 20000: one past the last


# -- cache and remembered devices ------------------------------------------------


def test_window_edges():
    assert exemptions.within(NOW, 60, now=NOW)  # at the success itself
    assert exemptions.within(NOW, 60, now=NOW + timedelta(seconds=59, microseconds=999999))
    assert not exemptions.within(NOW, 60, now=NOW + timedelta(seconds=60))  # ends exactly at its end
    assert not exemptions.within(NOW, 60, now=NOW - timedelta(seconds=1))  # a time in the future: no hit
    assert not exemptions.within(None, 60, now=NOW)


def test_cache_scopes_per_type_and_client_filter():
    rules = (
        CacheRule("user", 60),
        CacheRule("user+client", 120, ("vpn1",)),
        CacheRule("user+station", 30),
        CacheRule("user", 999, ("vpn2",)),
    )
    assert exemptions.cache_scopes(rules, client="vpn1", station="192.0.2.7") == {
        "0:user": 60,
        "1:client:vpn1": 120,
        "2:station:vpn1:192.0.2.7": 30,
    }
    # vpn2: rule 1 does not apply, rule 3 does; no station, no station key
    assert exemptions.cache_scopes(rules, client="vpn2", station="") == {"0:user": 60, "3:user": 999}


def test_cache_hit_uses_each_scopes_own_window():
    scopes = {"0:user": 60, "1:client:vpn1": 600}
    assert exemptions.cache_hit(scopes, {"0:user": NOW}, now=NOW + timedelta(seconds=59))
    assert not exemptions.cache_hit(scopes, {"0:user": NOW}, now=NOW + timedelta(seconds=60))
    assert exemptions.cache_hit(scopes, {"1:client:vpn1": NOW}, now=NOW + timedelta(seconds=599))
    assert not exemptions.cache_hit(scopes, {"9:user": NOW}, now=NOW)  # another rule's success
    assert not exemptions.cache_hit({}, {"0:user": NOW}, now=NOW)


def test_remembered_uses_the_asking_clients_days():
    at = NOW - timedelta(days=1)
    assert exemptions.remembered(ClientPolicy(remember_days=14), at, now=NOW)
    assert not exemptions.remembered(ClientPolicy(remember_days=1), at, now=NOW)  # exactly 1 day: ended
    assert not exemptions.remembered(ClientPolicy(remember_days=0), NOW, now=NOW)  # off
    assert exemptions.remembered(ClientPolicy(remember_days=1), at, now=NOW - timedelta(microseconds=1))
    assert not exemptions.remembered(ClientPolicy(), None, now=NOW)


# -- the order ---------------------------------------------------------------------


def test_exemption_order():
    base = {
        "state": UserState.ENABLED,
        "trusted": False,
        "bypass_open": False,
        "cached": False,
        "device_remembered": False,
    }
    assert exemptions.exemption(**base) is None
    order = [
        ("state", UserState.DISABLED, Rule.USER_DISABLED),
        ("trusted", True, Rule.TRUSTED_NETWORK),
        ("bypass_open", True, Rule.BYPASS),
        ("cached", True, Rule.CACHE),
        ("device_remembered", True, Rule.REMEMBERED_DEVICE),
    ]
    for i, (key, value, rule) in enumerate(order):
        facts = dict(base, **{key: value})
        # every later rule also true: the earlier one still decides
        for later_key, later_value, _ in order[i + 1 :]:
            facts[later_key] = later_value
        assert exemptions.exemption(**facts) is rule
    assert exemptions.exemption(**dict(base, state=UserState.ENFORCED, cached=True)) is Rule.CACHE


# -- app passwords -----------------------------------------------------------------


def test_new_app_password_shape_and_lookup():
    seen = {exemptions.new_app_password() for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        groups = password.split("-")
        assert [len(g) for g in groups] == [5, 5, 5, 5]
        assert exemptions.app_password_form(password.encode()) == password
        assert exemptions.lookup_of(password) == password[:4]


def test_app_password_form_accepts_typing_variants_only():
    canonical = "ABCDE-FGHIJ-KLMNO-PQRS2"
    for typed in (b"abcde-fghij-klmno-pqrs2", b"ABCDEFGHIJKLMNOPQRS2", b"abcde fghij klmno pqrs2"):
        assert exemptions.app_password_form(typed) == canonical
    for not_one in (
        b"ABCDE-FGHIJ-KLMNO-PQRS",
        b"ABCDE-FGHIJ-KLMNO-PQRS22",
        b"ABCDE-FGHIJ-KLMNO-PQRS1",
        b"alice-pw",
        b"",
        "ÄBCDE-FGHIJ-KLMNO-PQRS2".encode(),
    ):
        assert exemptions.app_password_form(not_one) is None


@pytest.mark.parametrize(
    ("enabled", "client", "service_type", "mode"),
    [
        (False, "allow", None, "deny"),  # the global switch is off by default
        (False, "require", None, "deny"),
        (True, "allow", None, "allow"),
        (True, "require", None, "require"),
        (True, "deny", None, "deny"),
        (True, "allow", 2, "allow"),  # Framed
        (True, "allow", 6, "deny"),  # Administrative: never with an app password
        (True, "require", 7, "deny"),  # NAS Prompt
    ],
)
def test_app_password_mode(enabled, client, service_type, mode):
    attrs = () if service_type is None else ((wire.SERVICE_TYPE, service_type.to_bytes(4, "big")),)
    r = request(attrs=attrs)
    assert exemptions.app_password_mode(enabled, ClientPolicy(app_passwords=client), r) == mode


def test_fraud_block_reason_matches_the_fraud_module():
    from radmfa.core import fraud

    assert exemptions.FRAUD_REASON == fraud.BLOCK_REASON


def test_retention_is_the_longest_window():
    rules = (CacheRule("user", 60), CacheRule("user+client", 7200))
    defaults = ClientPolicy()  # remember_days = 14, for clients without a table
    assert exemptions.retention(rules, [defaults, ClientPolicy(remember_days=3)]) == (
        timedelta(hours=2), timedelta(days=14)
    )
    assert exemptions.retention((), [ClientPolicy(remember_days=30)]) == (timedelta(0), timedelta(days=30))


def test_the_documented_order_is_the_coded_one():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "operator-guide.md").read_text()
    table = guide.split("## Order of evaluation", 1)[1].split("\n\n", 3)[2]
    last_cells = [row.rstrip(" |").rsplit("|", 1)[-1] for row in table.splitlines()[2:]]
    named = [rule for rule in Rule if rule is not Rule.LOCKOUT]  # a block's reason and a failure's both
    documented = [rule for cell in last_cells for rule in named if f"`{rule.value}`" in cell.split(";")[0]]
    coded = [
        Rule.BLOCKED,
        Rule.APP_PASSWORD,
        Rule.USER_DISABLED,
        Rule.TRUSTED_NETWORK,
        Rule.BYPASS,
        Rule.CACHE,
        Rule.REMEMBERED_DEVICE,
    ]
    assert documented == coded  # test_exemption_order pins the code to the same sequence
