"""[ldap_front] and [ldap_front.clients.<name>]: parsing, errors, and the
policies the LDAP clients get in the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from radmfa.config import LdapListen, load
from radmfa.errors import ConfigError
from radmfa.front.ldap.service import ClientTable, merged_policies, policies

UPSTREAM = ('[upstream]\ntype = "ldap"\nservers = ["ldaps://dc1.corp.example"]\nbind_dn = "cn=svc,dc=corp"\n'
            'bind_password = "pw"\nbase_dn = "dc=corp"\n')


def load_text(tmp_path: Path, front: str, upstream: str = UPSTREAM):
    (tmp_path / "front.crt").write_text("not checked here")
    (tmp_path / "front.key").write_text("not checked here")
    p = tmp_path / "radmfa.toml"
    p.write_text(upstream + front)
    return load(p)


FRONT = """
[ldap_front]
listen = ["ldaps://0.0.0.0", "ldap://[::1]:3389"]
cert_file = "front.crt"
key_file = "front.key"
service_binds = ["cn=svc,dc=corp"]

[ldap_front.clients.vpn]
networks = ["10.0.5.0/24", "10.0.6.7/32"]
app_name = "VPN portal"
"""


def test_a_full_section_and_its_defaults(tmp_path):
    cfg = load_text(tmp_path, FRONT).ldap_front
    assert cfg is not None
    assert cfg.listen == (LdapListen("ldaps", "0.0.0.0", 636), LdapListen("ldap", "::1", 3389))  # noqa: S104
    assert cfg.listen[1].url == "ldap://[::1]:3389"
    assert cfg.cert_file == tmp_path / "front.crt" and cfg.upstream == "default"
    assert (cfg.rebind_seconds, cfg.max_operations, cfg.idle_timeout_s, cfg.allow_anonymous) == (10, 10, 120, False)
    (vpn,) = cfg.clients
    assert vpn.name == "vpn" and vpn.app_name == "VPN portal" and len(vpn.networks) == 2
    assert (vpn.bind_timeout_s, vpn.max_connections) == (25, 100)
    assert load_text(tmp_path, "").ldap_front is None


def test_section_wide_defaults_apply_to_each_client(tmp_path):
    text = FRONT.replace("[ldap_front.clients", "bind_timeout_s = 40\nmax_connections_per_client = 7\n\n"
                         "[ldap_front.clients") + "\n[ldap_front.clients.wiki]\nnetworks = [\"10.9.0.1/32\"]\n" \
        "bind_timeout_s = 12\n"
    vpn, wiki = load_text(tmp_path, text).ldap_front.clients
    assert (vpn.bind_timeout_s, vpn.max_connections) == (40, 7)
    assert (wiki.bind_timeout_s, wiki.max_connections) == (12, 7)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('listen = ["ldaps://0.0.0.0", "ldap://[::1]:3389"]', "listen = []"), "[ldap_front] listen: needs at least"),
        (('"ldaps://0.0.0.0"', '"https://0.0.0.0"'), "[ldap_front] listen[0]: expected"),
        (('"ldaps://0.0.0.0"', '"ldaps://0.0.0.0:99999"'), "[ldap_front] listen[0]: not a port"),
        (('cert_file = "front.crt"\n', ""), "[ldap_front] cert_file: give both cert_file and key_file"),
        (('cert_file = "front.crt"\nkey_file = "front.key"\n', ""),
         "[ldap_front] cert_file: ldaps://0.0.0.0:636 needs"),
        (('cert_file = "front.crt"', 'cert_file = "missing.crt"'), "[ldap_front] cert_file: no such file"),
        (('service_binds = ["cn=svc,dc=corp"]', 'service_binds = ["svc"]'), "[ldap_front] service_binds[0]: not a DN"),
        (('service_binds', 'rebind_seconds = 301\nservice_binds'), "[ldap_front] rebind_seconds: must be between"),
        (('service_binds', 'colour = "blue"\nservice_binds'), "[ldap_front] colour: unknown setting"),
        (('service_binds', 'upstream = "nope"\nservice_binds'), "[ldap_front] upstream: no upstream named 'nope'"),
        (('networks = ["10.0.5.0/24", "10.0.6.7/32"]', "networks = []"), "[ldap_front.clients.vpn] networks: needs"),
        (('"10.0.6.7/32"', '"10.0.6.7/24"'), "[ldap_front.clients.vpn] networks[1]: not a network"),
        (('app_name = "VPN portal"', 'app_name = "x\\n"'), "[ldap_front.clients.vpn] app_name: must be"),
        (('app_name = "VPN portal"', "mode = 'challenge'"), "[ldap_front.clients.vpn] mode: unknown setting"),
        (("[ldap_front.clients.vpn]", "[ldap_front.other]\n[ldap_front.clients.vpn]"),
         "[ldap_front] other: unknown setting"),
    ],
)
def test_errors_name_the_file_the_table_and_the_key(tmp_path, change, message):
    old, new = change
    assert old in FRONT
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, FRONT.replace(old, new, 1))
    assert str(e.value).startswith("radmfa.toml: ") and message in str(e.value), str(e.value)


def test_no_clients_and_a_plain_listener_reachable_from_elsewhere_need_saying(tmp_path):
    with pytest.raises(ConfigError, match=r"\[ldap_front\] clients: needs at least one"):
        load_text(tmp_path, FRONT.split("[ldap_front.clients")[0])
    plain = FRONT.replace('cert_file = "front.crt"\nkey_file = "front.key"\n', "").replace(
        '"ldaps://0.0.0.0", "ldap://[::1]:3389"', '"ldap://127.0.0.1:3389", "ldap://10.0.0.1"')
    with pytest.raises(ConfigError, match=r"listen\[1\] ldap://10.0.0.1:389 is reachable from other hosts"):
        load_text(tmp_path, plain)
    loopback_only = plain.replace(', "ldap://10.0.0.1"', "")
    assert load_text(tmp_path, loopback_only).ldap_front.cert_file is None  # a lab, or a bench, on loopback


def test_the_upstream_must_be_an_ldap_one(tmp_path):
    with pytest.raises(ConfigError, match=r"\[ldap_front\] upstream: 'default' is not an LDAP upstream"):
        load_text(tmp_path, FRONT, upstream='[upstream]\ntype = "local"\n')
    named = load_text(tmp_path, FRONT.replace("service_binds", 'upstream = "dir"\nservice_binds'),
                      upstream='[upstream]\ntype = "local"\n\n[upstreams.dir]\n' + UPSTREAM.split("\n", 1)[1])
    assert named.ldap_front.upstream == "dir"
    assert policies(named.ldap_front)["vpn"].upstream == "dir"  # the pipeline routes the client there


def test_ldap_clients_get_the_oob_policy_and_no_remembered_devices(tmp_path):
    cfg = load_text(tmp_path, FRONT)
    vpn = policies(cfg.ldap_front)["vpn"]
    assert (vpn.mode, vpn.primary, vpn.user_ip_attribute, vpn.remember_days, vpn.app_name) == (
        "oob", "upstream", "source", 0, "VPN portal")


def test_an_ldap_client_may_not_take_a_radius_clients_name(tmp_path):
    cfg = load_text(tmp_path, FRONT)
    merged = merged_policies(cfg, {}, {"nas1"})
    assert set(merged) == {"vpn"}
    with pytest.raises(ConfigError, match=r"\[ldap_front.clients.vpn\]: clients.conf has a client of that name"):
        merged_policies(cfg, {}, {"nas1", "vpn"})


def test_clients_match_by_most_specific_network_and_mapped_addresses(tmp_path):
    text = FRONT + '\n[ldap_front.clients.one]\nnetworks = ["10.0.6.0/28"]\n'
    table = ClientTable(load_text(tmp_path, text).ldap_front.clients)
    assert table.match("10.0.5.9").name == "vpn"
    assert table.match("10.0.6.7").name == "vpn"  # the /32 beats the /28
    assert table.match("10.0.6.8").name == "one"
    assert table.match("::ffff:10.0.6.8").name == "one"  # RFC 4291 §2.5.5.2
    assert table.match("10.0.7.1") is None and table.match("not an address") is None
