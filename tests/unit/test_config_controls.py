"""[mfa] and [clients.<name>] keys of the admin's controls: defaults and errors naming file and key."""

from __future__ import annotations

import ipaddress

import pytest

from radmfa.config import CacheRule, ClientPolicy, MfaConfig, load
from radmfa.errors import ConfigError
from tests.unit.test_config import _clients, write


def test_defaults():
    mfa = MfaConfig()
    assert (mfa.new_user, mfa.trusted_networks, mfa.app_passwords) == ("enroll", (), False)
    assert (mfa.lockout_failures, mfa.lockout_minutes, mfa.cache) == (5, 15, ())
    assert (ClientPolicy().app_passwords, ClientPolicy().remember_days) == ("allow", 14)


def test_all_keys(tmp_path):
    cfg = load(
        write(
            tmp_path,
            """
[mfa]
new_user = "allow"
trusted_networks = ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]
app_passwords = true
lockout_failures = 0
lockout_minutes = 0

[[mfa.cache]]
type = "user+client"
seconds = 3600
clients = ["vpn1"]

[[mfa.cache]]
type = "user+station"
seconds = 60

[clients.asa]
app_passwords = "require"
remember_days = 0
""",
        )
    )
    assert cfg.mfa.new_user == "allow" and cfg.mfa.app_passwords is True
    assert cfg.mfa.trusted_networks[2] == ipaddress.ip_network("198.51.100.7/32")
    assert (cfg.mfa.lockout_failures, cfg.mfa.lockout_minutes) == (0, 0)
    assert cfg.mfa.cache == (CacheRule("user+client", 3600, ("vpn1",)), CacheRule("user+station", 60))
    policies = cfg.client_policies(_clients(tmp_path))
    assert policies["vpn1"].app_passwords == "require" and policies["vpn1"].remember_days == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[mfa]\nnew_user = "maybe"', "[mfa] new_user: must be one of"),
        (
            '[mfa]\ntrusted_networks = ["10.1.2.3/24"]',
            "[mfa] trusted_networks[0]: not a network: 10.1.2.3/24 has host bits set",
        ),
        ('[mfa]\ntrusted_networks = ["10.0.0.0/33"]', "[mfa] trusted_networks[0]: not a network"),
        ("[mfa]\ntrusted_networks = [10]", "[mfa] trusted_networks[0]: expected"),
        ('[mfa]\napp_passwords = "yes"', "[mfa] app_passwords: expected bool"),
        ("[mfa]\nlockout_failures = -1", "[mfa] lockout_failures: must be between 0 and 1000"),
        ("[mfa]\nlockout_minutes = 1e3", "[mfa] lockout_minutes: expected int"),
        ('[[mfa.cache]]\ntype = "device"\nseconds = 5', "[mfa] cache[0] type: must be one of"),
        ('[[mfa.cache]]\ntype = "user"', "[mfa] cache[0]: needs type and seconds"),
        ('[[mfa.cache]]\ntype = "user"\nseconds = 0', "[mfa] cache[0] seconds: must be between 1"),
        ('[[mfa.cache]]\ntype = "user"\nseconds = 5\nclients = [""]', "[mfa] cache[0] clients: expected a list"),
        ('[[mfa.cache]]\ntype = "user"\nseconds = 5\nwhen = 1', "[mfa] cache[0] when: unknown setting"),
        ('[clients.asa]\napp_passwords = "sometimes"', "[clients.asa] app_passwords: must be one of"),
        ("[clients.asa]\nremember_days = 400", "[clients.asa] remember_days: must be between 0 and 365"),
    ],
)
def test_errors_name_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert message in str(e.value) and "radmfa.toml" in str(e.value)


def test_cache_rule_naming_no_client(tmp_path):
    cfg = load(write(tmp_path, '[[mfa.cache]]\ntype = "user"\nseconds = 5\nclients = ["vnp1"]\n'))
    with pytest.raises(ConfigError, match=r"radmfa.toml: \[mfa\] cache\[0\].clients: no client section named 'vnp1'"):
        cfg.client_policies(_clients(tmp_path))
