"""`radmfa check-config` with [ldap_front]: what start-up would refuse, it refuses."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Radmfa, assert_one_line_error
from tests.peers import slapd

REPO = Path(__file__).resolve().parents[2]
FRONT = f"""
[radius]
dictionary = "{REPO / 'dictionary'}"

[upstream]
type = "ldap"
servers = ["ldaps://dc1.corp.example"]
bind_dn = "cn=svc,dc=corp"
bind_password = "pw"
base_dn = "dc=corp"

[store]
url = "sqlite:///radmfa.db"

[ldap_front]
listen = ["ldaps://0.0.0.0:636"]
cert_file = "pki/server.pem"
key_file = "pki/server.key"

[ldap_front.clients.wiki]
networks = ["10.0.5.20/32"]
"""


def setup(config_path: Path, clients: str = "") -> Path:
    (config_path.parent / "pki").mkdir()
    pki = slapd.TestPki(config_path.parent / "pki")
    config_path.write_text(FRONT)
    (config_path.parent / "clients.conf").write_text(clients)
    return pki.key_file


def test_a_good_ldap_front_passes(radmfa: Radmfa, config_path: Path) -> None:
    setup(config_path)
    result = radmfa("check-config")
    assert result.status == 0 and result.out.endswith(": OK\n")


def test_a_key_that_does_not_load_is_refused(radmfa: Radmfa, config_path: Path) -> None:
    setup(config_path).write_text("not a key")
    line = assert_one_line_error(radmfa("check-config"))
    assert "radmfa.toml: [ldap_front] cert_file / key_file: cannot load" in line


def test_an_ldap_client_named_like_a_radius_client_is_refused(radmfa: Radmfa, config_path: Path) -> None:
    setup(config_path, clients='client wiki {\n  ipaddr = 10.0.0.1\n  secret = "0123456789abcdef0123"\n}\n')
    line = assert_one_line_error(radmfa("check-config"))
    assert "[ldap_front.clients.wiki]: clients.conf has a client of that name" in line
