"""[admin_portal] and the settings kept in the store: what the file gives and refuses."""

from __future__ import annotations

import ipaddress

import pytest

from radmfa.config import MfaConfig, load
from radmfa.config import stored as st
from radmfa.errors import ConfigError
from tests.unit.test_config import write


def test_admin_portal_keys(tmp_path):
    cfg = load(write(tmp_path, '[admin_portal]\nlisten = ["10.99.0.5:8443"]\npublic_url = "https://adm.example.com/"\n'
                               'allow_from = ["10.99.0.0/24"]\n'))
    assert cfg.admin_portal.listen == (("10.99.0.5", 8443),)
    assert cfg.admin_portal.public_url == "https://adm.example.com"
    assert cfg.admin_portal.allow_from == (ipaddress.ip_network("10.99.0.0/24"),)
    assert load(write(tmp_path, "")).admin_portal.listen == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[admin_portal]\nlisten = ["127.0.0.1:8443"]', "[admin_portal] public_url: is needed with listen"),
        ('[admin_portal]\npublic_url = "ftp://x"', "[admin_portal] public_url: must be https://"),
        ('[admin_portal]\nallow_from = ["10.0.0.1/8"]', "[admin_portal] allow_from[0]: not a network"),
        ("[admin_portal]\nsession_max_hours = 25", "[admin_portal] session_max_hours: must be between 1 and 24"),
        ("[admin_portal]\nroles = 1", "[admin_portal] roles: unknown setting"),
    ],
)
def test_admin_portal_errors_name_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert message in str(e.value) and "radmfa.toml" in str(e.value)


def test_moved_keys_are_named_and_keys_that_stay_are_not(tmp_path):
    cfg = load(write(tmp_path, '[mfa]\nlockout_failures = 2\nnew_user = "deny"\nprompt = "Code:"\n'))
    assert set(cfg.moved_keys) == {"mfa.lockout_failures", "mfa.new_user"}
    assert load(write(tmp_path, '[mfa]\nprompt = "Code:"\n')).moved_keys == ()


def test_every_stored_setting_round_trips_and_applies():
    values = {"mfa.new_user": "deny", "mfa.trusted_networks": "10.0.0.0/8, 2001:db8::/32", "mfa.app_passwords": "on",
              "mfa.lockout_failures": "0", "mfa.lockout_minutes": "60"}
    assert set(values) == set(st.SETTINGS)
    parsed = {name: st.parse_text(st.SETTINGS[name], text) for name, text in values.items()}
    stored = {name: st.to_json(st.SETTINGS[name], v) for name, v in parsed.items()}
    decoded, problems = st.decode({**stored, "mfa.gone": "1", "mfa.lockout_minutes": '"soon"'})
    assert sorted(problems) == [
        "mfa.lockout_minutes: unusable stored value (mfa.lockout_minutes: must be a whole number "
        "from 0 to 525600, got 'soon'); ignored",
        "unknown setting 'mfa.gone' in the store (from a newer radmfa?); ignored",
    ]
    mfa = st.apply(MfaConfig(), decoded)
    assert (mfa.new_user, mfa.app_passwords, mfa.lockout_failures, mfa.lockout_minutes) == ("deny", True, 0, 15)
    assert [str(n) for n in mfa.trusted_networks] == ["10.0.0.0/8", "2001:db8::/32"]
    assert st.show(st.SETTINGS["mfa.trusted_networks"], mfa.trusted_networks) == "10.0.0.0/8\n2001:db8::/32"
