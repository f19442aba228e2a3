"""Bad config stops start-up with a message naming the file and the key."""

from __future__ import annotations

import pytest

from radmfa.config import format_host_port, load, parse_host_port
from radmfa.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "radmfa.toml"
    p.write_text(text)
    return p


def test_defaults_and_relative_paths(tmp_path):
    cfg = load(write(tmp_path, ""))
    assert cfg.upstream.type == "local" and cfg.mfa.unknown_users == "reject"
    assert cfg.radius.clients_file == tmp_path / "clients.conf"
    assert cfg.store.key_file == tmp_path / "radmfa.key"
    assert cfg.radius.duplicate_window_s == 10 and cfg.mfa.challenge_ttl_s == 300 and cfg.mfa.max_attempts == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[radius]\nlisten = [\"10.0.0.1:99999\"]\n", "[radius] listen[0]: not a port number"),
        ("[radius]\nlisten = [\"[::1\"]\n", "[radius] listen[0]: not host:port"),
        ("[radius]\nlisten = []\n", "[radius] listen: needs at least one address"),
        ("[radius]\nworkers = 0\n", "[radius] workers: must be between 1 and 64"),
        ("[radius]\nlistne = 1\n", "[radius] listne: unknown setting"),
        ("[radius]\nreject_delay_s = true\n", "[radius] reject_delay_s: expected a number"),
        ("[upstream]\ntype = \"ldapx\"\n", "[upstream] type: must be one of"),
        ("[upstream]\ntype = \"radius\"\nsecret = \"s\"\n", "[upstream] servers: type = \"radius\" needs"),
        ("[upstream]\ntype = \"radius\"\nservers = [\"10.0.0.1\"]\n", "[upstream] secret:"),
        ("[upstream]\nsecret_file = \"nope\"\n", "[upstream] secret_file: cannot read"),
        ("[upstream]\nstatus_check_interval_s = -1\n", "[upstream] status_check_interval_s: must be between 0"),
        ("[mfa]\nunknown_users = \"allow\"\n", "[mfa] unknown_users: must be one of"),
        # Each HOTP counter looked ahead is one more code a guess can hit
        ("[mfa]\nhotp_window = 21\n", "[mfa] hotp_window: must be between 1 and 20"),
        ("[mfa]\ninline_delimiter = \",,\"\n", "[mfa] inline_delimiter"),
        ("[mfa]\nprompt = \"" + "x" * 254 + "\"\n", "[mfa] prompt: must be 1..253 octets"),
        ("[store]\nurl = \"mysql://x\"\n", "[store] url:"),
        ("[typo]\n", "[typo]: unknown section"),
        ("[radius\n", "radmfa.toml: "),
    ],
)
def test_errors_name_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert "radmfa.toml" in str(e.value) and message in str(e.value)


def test_toml_syntax_error_names_line(tmp_path):
    with pytest.raises(ConfigError, match="line 3"):
        load(write(tmp_path, "[radius]\nworkers = 1\nlisten = [1,,2]\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(tmp_path / "absent.toml")


def test_secret_file_and_redacted_repr(tmp_path):
    (tmp_path / "up.secret").write_text("s3cr3t-upstream\n")
    cfg = load(write(tmp_path, '[upstream]\ntype = "radius"\nservers = ["[::1]:1812"]\nsecret_file = "up.secret"\n'))
    assert cfg.upstream.secret == b"s3cr3t-upstream"
    assert cfg.upstream.servers == (("::1", 1812),)
    assert "s3cr3t" not in repr(cfg)


def test_host_port_forms():
    assert parse_host_port("10.0.0.1", 1812) == ("10.0.0.1", 1812)
    assert parse_host_port("[fe80::1]:1645", 1812) == ("fe80::1", 1645)
    assert parse_host_port("nps1.corp.example:1812", 0) == ("nps1.corp.example", 1812)
    with pytest.raises(ValueError):
        parse_host_port("bad host!:1", 1)


@pytest.mark.parametrize("text", ["10.0.0.1:1812", "[::1]:1812", "[fe80::1]:1645", "nps1.corp.example:1812"])
def test_host_port_text_reads_back(text):
    assert format_host_port(*parse_host_port(text, 0)) == text


def _clients(tmp_path):
    from radmfa.radius.clients import parse_clients

    return parse_clients(
        'client vpn1 {\n ipaddr = 10.0.0.1\n secret = s3cret\n shortname = asa\n}\n'
        'client rdgw {\n ipaddr = 10.0.0.2\n secret = s3cret\n}\n'
    )


def test_client_policies_by_name_or_shortname(tmp_path):
    cfg = load(write(tmp_path, '[clients.asa]\nuser_ip_attribute = "Framed-IP-Address"\n[clients.rdgw]\n'))
    policies = cfg.client_policies(_clients(tmp_path))
    assert policies["vpn1"].user_ip_attribute == "Framed-IP-Address"
    assert policies["rdgw"].user_ip_attribute == "Calling-Station-Id"
    assert policies["rdgw"].upstream_challenge == "relay"


def test_upstream_challenge_and_status_check_settings(tmp_path):
    text = '[upstream]\nstatus_check_interval_s = 0\n[clients.asa]\nupstream_challenge = "relay-only"\n'
    cfg = load(write(tmp_path, text))
    assert cfg.upstream.status_check_interval_s == 0
    assert cfg.client_policies(_clients(tmp_path))["vpn1"].upstream_challenge == "relay-only"
    assert load(write(tmp_path, "")).upstream.status_check_interval_s == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[clients.asa]\nuser_ip_attribute = "NAS-Port"\n', "[clients.asa] user_ip_attribute: must be one of"),
        ("[clients.asa]\nmdoe = 1\n", "[clients.asa] mdoe: unknown setting"),
        ('[clients.asa]\nupstream_challenge = "skip"\n', "[clients.asa] upstream_challenge: must be one of"),
        ("[clients]\nasa = 1\n", "[clients.asa]: must be a table"),
        ("clients = 3\n", "[clients]: must be a table"),
    ],
)
def test_bad_client_policy(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert message in str(e.value) and "radmfa.toml" in str(e.value)


def test_client_policy_for_unknown_client(tmp_path):
    cfg = load(write(tmp_path, "[clients.vnp1]\n"))
    with pytest.raises(ConfigError, match=r"radmfa.toml: \[clients.vnp1\]: no client with that name"):
        cfg.client_policies(_clients(tmp_path))


def test_fraud_section(tmp_path):
    cfg = load(write(tmp_path, "[fraud]\nblock_user = false\nblock_days = 0\n"))
    assert (cfg.fraud.allow_reports, cfg.fraud.block_user, cfg.fraud.block_days) == (True, False, 0)
    with pytest.raises(ConfigError, match=r"\[fraud\] block_days: must be between 0 and 36500"):
        load(write(tmp_path, "[fraud]\nblock_days = -1\n"))


def test_a_password_file_that_is_not_text_is_named(tmp_path):
    (tmp_path / "twilio.token").write_bytes(b"\xff\xfe token")
    text = ('[providers.sms]\ntype = "twilio"\naccount_sid = "AC1"\nsender = "+15550100"\n'
            'auth_token_file = "twilio.token"\n')
    with pytest.raises(ConfigError, match=r"radmfa.toml: \[providers.sms\] auth_token_file: must hold UTF-8 text"):
        load(write(tmp_path, text))


def test_closed_choices_are_the_literal_types_of_their_fields():
    """A choice the parser accepts is a value the field's type allows, and back."""
    import dataclasses
    import typing

    import radmfa.config as config
    from radmfa.config.clients import UPSTREAM_CHALLENGE_CHOICES

    pairs = {
        (config.ClientPolicy, "mode"): config.CLIENT_MODES,
        (config.ClientPolicy, "primary"): config.CLIENT_PRIMARY,
        (config.ClientPolicy, "user_ip_attribute"): config.USER_IP_ATTRIBUTES,
        (config.ClientPolicy, "app_passwords"): config.APP_PASSWORD_CHOICES,
        (config.ClientPolicy, "upstream_challenge"): UPSTREAM_CHALLENGE_CHOICES,
        (config.MfaConfig, "new_user"): config.NEW_USER_CHOICES,
        (config.CacheRule, "type"): config.CACHE_TYPES,
        (config.AuditConfig, "destinations"): config.DESTINATIONS,
        (config.ProviderConfig, "type"): config.PROVIDER_TYPES,
    }
    for (cls, name), choices in pairs.items():
        hints = typing.get_type_hints(cls)
        assert typing.get_origin(hints[name]) is typing.Literal, (cls.__name__, name)
        assert typing.get_args(hints[name]) == choices, (cls.__name__, name)
        assert name in {f.name for f in dataclasses.fields(cls)}
    assert set(config.PROVIDER_METHODS) == set(config.PROVIDER_TYPES)


def test_importing_the_configuration_loads_no_io_library():
    """The core imports config dataclasses: importing them must not pull in
    sockets, TLS, threads, event loops or directory clients."""
    import subprocess
    import sys

    code = "import sys, radmfa.config; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                 .stdout.split())
    roots = {name.split(".")[0] for name in loaded}
    io = {"socket", "ssl", "select", "selectors", "threading", "asyncio", "ldap3", "aiohttp", "aiosmtplib",
          "sqlite3", "asyncpg", "argon2", "subprocess", "http", "smtplib", "structlog"}
    assert "radmfa.config" in loaded and roots & io == set()


def test_accounting_and_coa_keys(tmp_path):
    cfg = load(write(tmp_path, '[radius]\nlisten = ["127.0.0.1:1812", "10.0.0.1:11812"]\n'))
    assert cfg.radius.accounting_listen == (("127.0.0.1", 1813), ("10.0.0.1", 11813))  # port + 1
    assert cfg.upstream.accounting_servers == ()
    cfg = load(write(tmp_path, '[radius]\naccounting_listen = []\n[upstream]\ntype = "radius"\n'
                     'servers = ["10.0.0.5"]\nsecret = "sekrit-77"\n'
                     'accounting_servers = ["10.0.0.5", "10.0.0.6:1646"]\n'
                     '[clients.vpn]\ncoa_port = 1700\ncoa_secret = "coa-sekrit-88"\n'))
    assert cfg.radius.accounting_listen == ()
    assert cfg.upstream.accounting_servers == (("10.0.0.5", 1813), ("10.0.0.6", 1646))
    assert cfg.upstream.accounting_secret == b"sekrit-77"  # the upstream's secret by default
    assert "sekrit-77" not in repr(cfg.upstream)
    assert (cfg.clients["vpn"].coa_port, cfg.clients["vpn"].coa_secret) == (1700, b"coa-sekrit-88")
    assert "coa-sekrit-88" not in repr(cfg.clients["vpn"])
    assert load(write(tmp_path, "")).clients == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[upstream]\naccounting_servers = ["10.0.0.5"]\n', "[upstream] accounting_secret: accounting_servers need"),
        ('[upstream]\naccounting_servers = ["10.0.0.5:x"]\n', "[upstream] accounting_servers[0]"),
        ('[radius]\naccounting_listen = "127.0.0.1"\n', "[radius] accounting_listen"),
        ('[radius]\nlisten = ["127.0.0.1:65535"]\n', "[radius] accounting_listen: listen has port 65535"),
        ('[clients.vpn]\ncoa_port = 0\n', "[clients.vpn] coa_port"),
    ],
)
def test_accounting_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert message in str(e.value)
