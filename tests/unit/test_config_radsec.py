"""RadSec settings ([radius] radsec_*, [clients.<name>] radsec_*, [upstream]
transport = "radsec"): defaults, the RFC 6614 port and secret, errors naming
the key; and the certificate names the TLS side compares."""

from __future__ import annotations

from pathlib import Path

import pytest

from radmfa.config import load
from radmfa.errors import ConfigError
from radmfa.service.tls import cert_names, shows_name


def write(tmp_path: Path, text: str) -> Path:
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("x")
    p = tmp_path / "radmfa.toml"
    p.write_text(text)
    return p


LISTENER = '[radius]\nradsec_listen = ["127.0.0.1"]\nradsec_cert = "cert.pem"\nradsec_key = "key.pem"\n'
UPSTREAM = ('[upstream]\ntype = "radius"\ntransport = "radsec"\nservers = ["rs1.example"]\n'
            'tls_cert = "cert.pem"\ntls_key = "key.pem"\ntls_ca = "ca.pem"\n')


def test_off_by_default(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ""))
    assert cfg.radius.radsec_listen == ()
    assert cfg.upstream.transport == "udp"


def test_listener_port_2083_and_files_relative_to_the_config(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, LISTENER + '[clients.vpn1]\nradsec_ca = "ca.pem"\nradsec_name = "vpn1.example"\n'))
    assert cfg.radius.radsec_listen == (("127.0.0.1", 2083),)
    assert cfg.radius.radsec_cert == tmp_path / "cert.pem"
    client = cfg.clients["vpn1"]
    assert (client.radsec_ca, client.radsec_name, client.radsec_secret) == (tmp_path / "ca.pem", "vpn1.example",
                                                                            b"radsec")
    assert "radsec_secret" not in repr(client)  # the secret stays out of reprs


def test_upstream_port_2083_and_secret_radsec(tmp_path: Path) -> None:
    up = load(write(tmp_path, UPSTREAM)).upstream
    assert up.servers == (("rs1.example", 2083),)
    assert up.secret == b"radsec"
    assert (up.transport, up.tls_ca, up.tls_name) == ("radsec", tmp_path / "ca.pem", "")
    own = load(write(tmp_path, UPSTREAM + 'secret = "other"\ntls_name = "rs.example"\n')).upstream
    assert (own.secret, own.tls_name) == (b"other", "rs.example")


def test_upstream_accounting_over_radsec_on_port_2083(tmp_path: Path) -> None:
    up = load(write(tmp_path, UPSTREAM + 'accounting_servers = ["rs1.example", "rs2.example:3000"]\n')).upstream
    assert up.accounting_servers == (("rs1.example", 2083), ("rs2.example", 3000))  # no accounting port in RFC 6614
    assert up.accounting_secret == b"radsec"
    udp = load(write(tmp_path, '[upstream]\ntype = "radius"\nservers = ["a"]\nsecret = "s"\n'
                                'accounting_servers = ["b"]\n')).upstream
    assert udp.accounting_servers == (("b", 1813),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[radius]\nradsec_listen = ["127.0.0.1"]\n', r"\[radius\] radsec_cert: radsec_listen needs"),
        (LISTENER.replace('radsec_key = "key.pem"\n', ""), r"\[radius\] radsec_key: radsec_listen needs"),
        (LISTENER.replace("key.pem", "nope.pem"), r"\[radius\] radsec_key: cannot read .*nope.pem"),
        (LISTENER + "radsec_idle_timeout_s = 30\n", r"radsec_idle_timeout_s: must be longer than request_timeout_s"),
        ('[clients.vpn1]\nradsec_ca = "ca.pem"\n', r"\[clients.vpn1\] radsec_name: RadSec needs both"),
        ('[clients.vpn1]\nradsec_name = "vpn1"\n', r"\[clients.vpn1\] radsec_ca: RadSec needs both"),
        ('[clients.vpn1]\nradsec_ca = "ca.pem"\nradsec_name = " vpn1"\n', r"radsec_name: must be a certificate name"),
        (UPSTREAM.replace('tls_ca = "ca.pem"\n', ""), r"\[upstream\] tls_ca: transport = \"radsec\" needs"),
        (UPSTREAM.replace('"radsec"', '"tcp"'), r"\[upstream\] transport: must be one of"),
        ('[upstream]\ntype = "radius"\nservers = ["a"]\nsecret = "s"\ntls_ca = "ca.pem"\n',
         r"\[upstream\] tls_ca: unknown setting"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, text))


PEERCERT = {
    "subject": ((("organizationName", "Corp"),), (("commonName", "VPN1.example"),)),
    "subjectAltName": (("DNS", "vpn1.corp.example"), ("IP Address", "192.0.2.7"), ("URI", "https://x.example")),
}


def test_certificate_names_are_cn_and_dns_and_ip_alt_names() -> None:
    assert cert_names(PEERCERT) == {"vpn1.example", "vpn1.corp.example", "192.0.2.7"}
    assert shows_name(PEERCERT, "vpn1.EXAMPLE")  # DNS names compare without case
    assert shows_name(PEERCERT, "192.0.2.7")
    assert not shows_name(PEERCERT, "corp")  # never a partial match
    assert not shows_name(PEERCERT, "https://x.example")
    assert not shows_name(None, "vpn1.example")
    assert not shows_name({}, "")
