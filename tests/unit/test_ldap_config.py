"""[upstream] type = "ldap", [upstreams.<name>] and [clients.<name>] upstream: parsing and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from radmfa.config import LdapServer, load
from radmfa.directory.ldapconn import escape_dn_value, escape_filter_value
from radmfa.errors import ConfigError
from radmfa.upstream.ldap import directory_name, group_filter

SEARCH = 'type = "ldap"\nservers = ["ldaps://dc1.corp.example", "ldap://10.0.0.2"]\nbind_dn = "cn=svc"\n' \
    'bind_password = "pw"\nbase_dn = "dc=corp"\nallow_plaintext = true\n'


def load_text(tmp_path: Path, text: str):
    p = tmp_path / "radmfa.toml"
    p.write_text(text)
    return load(p)


def test_ldap_defaults_and_ports(tmp_path):
    cfg = load_text(tmp_path, "[upstream]\n" + SEARCH).upstream
    assert cfg.type == "ldap" and cfg.ldap is not None
    assert cfg.ldap.servers == (LdapServer("ldaps", "dc1.corp.example", 636), LdapServer("ldap", "10.0.0.2", 389))
    assert cfg.ldap.verify and not cfg.ldap.start_tls and cfg.ldap.group_check == "nested"
    assert cfg.ldap.user_filter == "(uid={user})" and cfg.ldap.strip_realm
    assert "pw" not in repr(cfg) and "pw" not in repr(cfg.ldap)


def test_bind_password_file(tmp_path):
    (tmp_path / "bind.pw").write_text("s3cret\n")
    body = SEARCH.replace('bind_password = "pw"', 'bind_password_file = "bind.pw"')
    assert load_text(tmp_path, "[upstream]\n" + body).upstream.ldap.bind_password == "s3cret"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('type = "ldap"\n', "[upstream] servers: type = \"ldap\" needs at least one server"),
        ('type = "ldap"\nservers = ["dc1:389"]\n', "[upstream] servers[0]: expected \"ldap://host[:port]\""),
        ('type = "ldap"\nservers = ["ldap://dc1:99999"]\n', "[upstream] servers[0]: not a port number"),
        ('type = "ldap"\nservers = ["ldap://dc1"]\n', "[upstream] bind_dn: give either bind_dn"),
        (SEARCH + 'bind_dn_template = "uid={user}"\n', "[upstream] bind_dn: give either bind_dn"),
        (SEARCH.replace('bind_password = "pw"\n', ""), "[upstream] bind_password: bind_dn needs"),
        (SEARCH.replace('base_dn = "dc=corp"\n', ""), "[upstream] base_dn: search-then-bind"),
        (SEARCH + 'user_filter = "(uid=alice)"\n', "[upstream] user_filter: must contain {user}"),
        (SEARCH + 'user_filter = "uid={user}"\n', "[upstream] user_filter: not an LDAP filter"),
        (SEARCH + 'group_check = "magic"\n', "[upstream] group_check: must be one of"),
        (SEARCH + "start_tls = true\n", "[upstream] start_tls: StartTLS is for ldap://"),
        (SEARCH + 'ca_file = "missing.pem"\n', "[upstream] ca_file: no such file"),
        (SEARCH + "secret = \"x\"\n", "[upstream] secret: unknown setting"),
    ],
)
def test_ldap_errors_name_the_key(tmp_path, body, message):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, "[upstream]\n" + body)
    assert message in str(e.value)
    assert '"pw"' not in str(e.value)


def test_named_upstreams_and_client_routes(tmp_path):
    text = (
        '[upstream]\ntype = "local"\n[upstreams.corp]\n' + SEARCH
        + '[upstreams.nps]\ntype = "radius"\nservers = ["10.0.0.9"]\nsecret = "s"\n'
        + '[clients.vpn1]\nupstream = "corp"\n[clients.wifi]\nupstream = "nps"\n[clients.lab]\n'
    )
    cfg = load_text(tmp_path, text)
    assert set(cfg.upstreams) == {"corp", "nps"} and cfg.upstreams["corp"].name == "corp"
    assert {name: p.upstream for name, p in cfg.clients.items()} == {"vpn1": "corp", "wifi": "nps", "lab": "default"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[upstreams.corp]\ntype = "ldap"\n', "[upstreams.corp] servers:"),
        ('[upstreams.default]\ntype = "local"\n', "[upstreams.default]: the name 'default'"),
        ('[clients.vpn1]\nupstream = "corp"\n', "[clients.vpn1] upstream: no [upstreams.corp] table"),
        ("[clients.vpn1]\nupstream = 3\n", "[clients.vpn1] upstream: expected str"),
    ],
)
def test_named_upstream_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("alice", "alice"),
        ("*", "\\2a"),
        ("alice)(uid=*", "alice\\29\\28uid=\\2a"),
        ("a\\b", "a\\5cb"),
        ("nul\x00", "nul\\00"),
        ("Jürgen", "Jürgen"),
    ],
)
def test_rfc4515_filter_escaping(value, escaped):
    assert escape_filter_value(value) == escaped


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("alice", "alice"), ("a,ou=x", "a\\,ou\\=x"), ("#1", "\\#1"), (" a ", "\\ a\\ "), ('a"+;<>', 'a\\"\\+\\;\\<\\>')],
)
def test_rfc4514_dn_escaping(value, escaped):
    assert escape_dn_value(value) == escaped


def test_directory_name_and_group_filters(tmp_path):
    assert directory_name("CORP\\alice", strip_realm=True) == "alice"
    assert directory_name("alice@corp.example", strip_realm=True) == "alice"
    assert directory_name("alice@corp.example", strip_realm=False) == "alice@corp.example"
    cfg = load_text(tmp_path, "[upstream]\n" + SEARCH + 'require_group = "cn=VPN (all),dc=corp"\n').upstream.ldap
    nested = "(memberOf:1.2.840.113556.1.4.1941:=cn=VPN \\28all\\29,dc=corp)"
    assert group_filter(cfg, "cn=a*,dc=corp") == ("cn=a*,dc=corp", nested)


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        (SEARCH, "uid"),
        (SEARCH + 'user_filter = "(&(objectClass=user)(sAMAccountName={user}))"\n', "sAMAccountName"),
        (SEARCH + 'user_filter = "(userPrincipalName={user}@corp.example)"\n', "userPrincipalName"),
        (SEARCH + 'user_filter = "(|(uid={user})(mail={user}))"\nuser_attribute = "uid"\n', "uid"),
        ('type = "ldap"\nservers = ["ldaps://dc1"]\nbind_dn_template = "uid={user},ou=people,dc=x"\n', "uid"),
        ('type = "ldap"\nservers = ["ldaps://dc1"]\nbind_dn_template = "{user}@corp.example"\nbase_dn = "dc=corp"\n'
         'user_filter = "(sAMAccountName={user})"\n', "sAMAccountName"),
    ],
)
def test_user_attribute_is_the_naming_attribute(tmp_path, body, attribute):
    assert load_text(tmp_path, "[upstream]\n" + body).upstream.ldap.user_attribute == attribute


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (SEARCH + 'user_filter = "(|(uid={user})(mail={user}))"\n', "[upstream] user_attribute: give the attribute"),
        ('type = "ldap"\nservers = ["ldaps://dc1"]\nbind_dn_template = "{user}@corp.example"\n',
         "[upstream] base_dn: bind_dn_template '{user}@corp.example' is not a DN"),
        ('type = "ldap"\nservers = ["ldaps://dc1"]\nbind_dn_template = "{user}@corp.example"\nbase_dn = "dc=corp"\n',
         "[upstream] user_filter: bind_dn_template is not a DN"),
    ],
)
def test_user_attribute_errors(tmp_path, body, message):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, "[upstream]\n" + body)
    assert message in str(e.value)


@pytest.mark.parametrize("server", ["ldap://10.0.0.2", "ldap://dc1.corp.example:389"])
def test_plaintext_ldap_is_refused(tmp_path, server):
    # ldap:// without StartTLS sends every password in clear.
    body = SEARCH.replace("allow_plaintext = true\n", "").replace('"ldap://10.0.0.2"', f'"{server}"')
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, "[upstream]\n" + body)
    assert f"[upstream] servers[1]: {server}" in str(e.value) and "allow_plaintext" in str(e.value)
    ok = body.replace('"ldaps://dc1.corp.example", ', "") + "start_tls = true\n"
    assert load_text(tmp_path, "[upstream]\n" + ok).upstream.ldap.start_tls


@pytest.mark.parametrize("server", ["ldap://127.0.0.1:3389", "ldap://localhost", "ldap://[::1]"])
def test_plaintext_ldap_on_loopback_is_allowed(tmp_path, server):
    body = SEARCH.replace("allow_plaintext = true\n", "").replace('"ldap://10.0.0.2"', f'"{server}"')
    assert not load_text(tmp_path, "[upstream]\n" + body).upstream.ldap.allow_plaintext
