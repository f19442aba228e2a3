"""clients.conf parsing and source-address matching (checklist §2, §12.1)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from radmfa.errors import ConfigError
from radmfa.radius import clients as clients_module
from radmfa.radius.clients import Client, ClientTable, load_clients, parse_clients

REPO = Path(__file__).resolve().parents[2]
FREERADIUS_CLIENTS = Path("/etc/freeradius/3.0/clients.conf")
SECRET = "0123456789abcdef"  # noqa: S105 (16 bytes: no short-secret warning)


def one(text: str) -> Client:
    table = parse_clients(text)
    assert len(table) == 1
    return next(iter(table))


def client(name: str, body: str) -> str:
    return f"client {name} {{\n{body}\n}}\n"


def error_of(text: str, filename: str = "clients.conf") -> str:
    with pytest.raises(ConfigError) as info:
        parse_clients(text, filename)
    return str(info.value)


# --- basic syntax ------------------------------------------------------------


def test_minimal_client_and_defaults() -> None:
    c = one(client("vpn1", f"ipaddr = 192.0.2.1\nsecret = {SECRET}"))
    assert c.name == "vpn1"
    assert c.shortname == "vpn1"
    assert c.network == ipaddress.ip_network("192.0.2.1/32")
    assert c.secret == SECRET.encode()
    assert c.require_message_authenticator == "yes"
    assert c.limit_proxy_state == "auto"
    assert c.source == "clients.conf:1"


def test_repr_hides_the_secret() -> None:
    c = one(client("vpn1", "ipaddr = 192.0.2.1\nsecret = very-secret-value-42"))
    assert "very-secret-value-42" not in repr(c)
    assert "very-secret-value-42" not in str(c)
    assert "vpn1" in repr(c)


def test_comments_blank_lines_and_quoting() -> None:
    text = """
# leading comment

client "vpn 1" {   # trailing comment on a section line
\tipaddr\t= 10.0.0.0/8   # trailing comment
\tsecret = 'single # not a comment'
\tshortname = "short # name"
\tnas_type = other # ignored key
}
"""
    c = one(text)
    assert c.name == "vpn 1"
    assert c.network == ipaddress.ip_network("10.0.0.0/8")
    assert c.secret == b"single # not a comment"
    assert c.shortname == "short # name"
    assert c.source == "clients.conf:4"


def test_bare_value_keeps_hash_and_equals_inside_a_word() -> None:
    c = one(client("a", "ipaddr = 192.0.2.1\nsecret = ab#cd=ef0123456"))
    assert c.secret == b"ab#cd=ef0123456"


def test_one_line_section_and_no_spaces_around_equals() -> None:
    c = one(f"client a {{ ipaddr=192.0.2.1\n secret={SECRET} }}\n")
    assert c.network == ipaddress.ip_network("192.0.2.1/32")
    assert c.secret == SECRET.encode()


def test_backslash_continuation() -> None:
    c = one(f"client a {{\n ipaddr = \\\n 192.0.2.7\n secret = {SECRET}\n}}\n")
    assert c.network == ipaddress.ip_network("192.0.2.7/32")


def test_crlf_line_endings() -> None:
    c = one(f"client a {{\r\n ipaddr = 192.0.2.1\r\n secret = {SECRET}\r\n}}\r\n")
    assert c.secret == SECRET.encode()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('"\\101\\102C-0123456789"', b"ABC-0123456789"),
        ('"say \\"hi\\" 0123456789"', b'say "hi" 0123456789'),
        ('"back\\\\slash-0123456789"', b"back\\slash-0123456789"),
        ('"nul\\000byte-0123456789"', b"nul\x00byte-0123456789"),
        ('"\\377\\200-high-octets-xx"', b"\xff\x80-high-octets-xx"),
        ('"tab\\there-0123456789"', b"tab\there-0123456789"),
        ("'it\\'s-0123456789'", b"it's-0123456789"),
        ("'keep\\n-literal-0123456789'", b"keep\\n-literal-0123456789"),
        ('"caf\u00e9-0123456789"', "caf\u00e9-0123456789".encode()),
    ],
)
def test_quoted_secret_escapes(written: str, expected: bytes) -> None:
    c = one(client("a", f"ipaddr = 192.0.2.1\nsecret = {written}"))
    assert c.secret == expected


def test_long_and_binary_secrets() -> None:
    long_secret = "x" * 64 + "y" * 64
    binary = "".join(f"\\{b:03o}" for b in range(256))
    table = parse_clients(
        client("long", f'ipaddr = 192.0.2.1\nsecret = "{long_secret}"')
        + client("binary", f'ipaddr = 192.0.2.2\nsecret = "{binary}"')
    )
    assert table.match("192.0.2.1").secret == long_secret.encode()  # type: ignore[union-attr]
    assert table.match("192.0.2.2").secret == bytes(range(256))  # type: ignore[union-attr]
    assert table.warnings == ()


def test_tri_state_values() -> None:
    for written, expected in [("yes", "yes"), ("TRUE", "yes"), ("1", "yes"), ("no", "no"),
                              ("false", "no"), ("0", "no"), ("auto", "auto")]:
        c = one(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\n"
                            f"require_message_authenticator = {written}\n"
                            f"limit_proxy_state = {written}"))
        assert c.require_message_authenticator == expected
        assert c.limit_proxy_state == expected


def test_ignored_keys_and_limit_section() -> None:
    body = f"""ipaddr = 192.0.2.1
secret = {SECRET}
nas_type = cisco
proto = *
virtual_server = inner
response_window = 10
coa_server = coa1
login = admin
password = "pw"
src_ipaddr = 192.0.2.254
protocol_error = no
limit {{
    max_connections = 16
    lifetime = 0
    idle_timeout = 30
}}"""
    c = one(client("a", body))
    assert c.network == ipaddress.ip_network("192.0.2.1/32")


def test_proto_tcp_warns() -> None:
    table = parse_clients(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\nproto = tcp"))
    assert any("proto = tcp" in w for w in table.warnings)


# --- addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "network"),
    [
        ("ipaddr = 192.0.2.0/24", "192.0.2.0/24"),
        ("ipaddr = 2001:db8::/32", "2001:db8::/32"),
        ("ipaddr = *", "0.0.0.0/0"),
        ("ipv4addr = *", "0.0.0.0/0"),
        ("ipv4addr = 198.51.100.7", "198.51.100.7/32"),
        ("ipv6addr = ::", "::/0"),
        ("ipv6addr = *", "::/0"),
        ("ipv6addr = ::1", "::1/128"),
        ("ipaddr = 10.1.2.3/24", "10.1.2.0/24"),  # host bits cleared, as FreeRADIUS does
        ("ipaddr = 10.1.2.0\nnetmask = 24", "10.1.2.0/24"),
        ("netmask = 16\nipaddr = 172.16.0.0", "172.16.0.0/16"),
    ],
)
def test_address_forms(line: str, network: str) -> None:
    c = one(client("a", f"{line}\nsecret = {SECRET}"))
    assert c.network == ipaddress.ip_network(network)


def test_host_bits_are_normalised_with_a_warning() -> None:
    table = parse_clients(client("a", f"ipaddr = 10.1.2.3/24\nsecret = {SECRET}"))
    assert [w for w in table.warnings if "read as 10.1.2.0/24" in w]


def test_legacy_name_is_the_address() -> None:
    table = parse_clients(
        f"client 192.0.2.1 {{\n secret = {SECRET}\n}}\n"
        f"client 2001:db8::/64 {{\n secret = {SECRET}\n}}\n"
    )
    nets = [c.network for c in table]
    assert nets == [ipaddress.ip_network("192.0.2.1/32"), ipaddress.ip_network("2001:db8::/64")]


# --- matching ----------------------------------------------------------------


def cidr_table() -> ClientTable:
    return parse_clients(
        client("wide", 'ipaddr = 10.0.0.0/8\nsecret = "secret-A-0123456"')
        + client("narrow", 'ipaddr = 10.1.2.0/24\nsecret = "secret-B-0123456"')
        + client("v6", 'ipv6addr = 2001:db8::/32\nsecret = "secret-C-0123456"')
        + client("v6host", 'ipv6addr = 2001:db8::5\nsecret = "secret-D-0123456"')
        + client("linklocal", 'ipv6addr = fe80::/10\nsecret = "secret-E-0123456"')
    )


def secret_for(table: ClientTable, ip: str) -> bytes | None:
    c = table.match(ip)
    return None if c is None else c.secret


def test_longest_prefix_match() -> None:
    table = cidr_table()
    assert secret_for(table, "10.1.2.3") == b"secret-B-0123456"
    assert secret_for(table, "10.9.9.9") == b"secret-A-0123456"
    assert secret_for(table, "192.0.2.1") is None


def test_ipv6_and_mapped_ipv4() -> None:
    table = cidr_table()
    assert secret_for(table, "2001:db8::5") == b"secret-D-0123456"
    assert secret_for(table, "2001:db8::6") == b"secret-C-0123456"
    assert secret_for(table, "2001:db9::1") is None
    assert secret_for(table, "::ffff:10.1.2.3") == b"secret-B-0123456"
    assert secret_for(table, "::ffff:10.200.0.1") == b"secret-A-0123456"
    assert secret_for(table, "fe80::1%eth0") == b"secret-E-0123456"
    assert secret_for(table, "2001:DB8:0:0::5") == b"secret-D-0123456"


def test_match_rejects_garbage_and_is_cached() -> None:
    table = cidr_table()
    assert table.match("not-an-ip") is None
    assert table.match("") is None
    first = table.match("10.1.2.3")
    assert table.match("10.1.2.3") is first


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients_module, "CACHE_SIZE", 8)
    table = cidr_table()
    for i in range(50):
        assert secret_for(table, f"10.0.0.{i}") == b"secret-A-0123456"
        assert len(table._cache) <= 8
    assert secret_for(table, "10.1.2.9") == b"secret-B-0123456"


def test_catch_all_loses_to_specific() -> None:
    table = parse_clients(
        client("any", 'ipaddr = *\nsecret = "any-secret-01234"')
        + client("one", 'ipaddr = 192.0.2.1\nsecret = "one-secret-01234"')
    )
    assert secret_for(table, "192.0.2.1") == b"one-secret-01234"
    assert secret_for(table, "203.0.113.9") == b"any-secret-01234"
    assert secret_for(table, "2001:db8::1") is None  # ipaddr = * is IPv4 only


def test_len_and_iter_keep_file_order() -> None:
    table = cidr_table()
    assert len(table) == 5
    assert [c.name for c in table] == ["wide", "narrow", "v6", "v6host", "linklocal"]


# --- warnings and duplicates -------------------------------------------------


def test_short_secret_is_a_warning_not_an_error() -> None:
    table = parse_clients(client("a", "ipaddr = 192.0.2.1\nsecret = testing123"))
    assert len(table) == 1
    assert len(table.warnings) == 1
    assert "clients.conf line 3" in table.warnings[0]
    assert "short" in table.warnings[0]
    assert "testing123" not in table.warnings[0]  # the secret itself is never echoed


def test_identical_duplicate_is_a_warning() -> None:
    body = f"ipaddr = 192.0.2.1\nsecret = {SECRET}"
    table = parse_clients(client("a", body) + client("b", body))
    assert [c.name for c in table] == ["a"]
    assert any("repeats" in w and "line 5" in w for w in table.warnings)


# --- errors ------------------------------------------------------------------


def assert_error(text: str, line: int, *fragments: str) -> None:
    message = error_of(text)
    assert message.startswith(f"clients.conf line {line}: "), message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_secret() -> None:
    assert_error("\n\nclient vpn1 {\n ipaddr = 192.0.2.1\n}\n", 3, 'client "vpn1" has no secret')


def test_bad_cidr() -> None:
    assert_error(client("a", "ipaddr = 10.0.0.0/33\nsecret = x"), 2,
                 "not an IP address or CIDR: '10.0.0.0/33'")


@pytest.mark.parametrize(
    "value", ["10.0.0.256", "10.0.0.0/", "10.0.0.0/x", "fe80::/129", "010.0.0.1", "1.2.3.4/-1"]
)
def test_bad_addresses(value: str) -> None:
    assert_error(client("a", f"secret = {SECRET}\nipaddr = {value}"), 3,
                 f"not an IP address or CIDR: {value!r}")


def test_host_names_are_refused_with_a_hint() -> None:
    assert_error(client("a", f"ipaddr = vpn.example.com\nsecret = {SECRET}"), 2,
                 "not an IP address", "host names")


def test_family_mismatch() -> None:
    assert_error(client("a", f"ipv4addr = ::1\nsecret = {SECRET}"), 2, "not an IP address")
    assert_error(client("a", f"ipv6addr = 192.0.2.1\nsecret = {SECRET}"), 2, "not an IP address")


def test_no_address_and_name_not_an_address() -> None:
    assert_error(client("vpn1", f"secret = {SECRET}"), 1,
                 'client "vpn1" has no ipaddr, ipv4addr or ipv6addr')


def test_unknown_key_names_key_and_line() -> None:
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\nsecert = x"), 4,
                 "unknown key 'secert'", "did you mean 'secret'")


def test_unknown_nested_section() -> None:
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\nfoo {{\n}}"), 4,
                 "unknown section 'foo'")


def test_two_address_keys() -> None:
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\nipv6addr = ::1"), 4,
                 "ipaddr and ipv6addr", "only one")


def test_key_set_twice() -> None:
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\nsecret = other"), 4,
                 "secret is set twice", "line 3")


def test_empty_secret() -> None:
    assert_error(client("a", 'ipaddr = 192.0.2.1\nsecret = ""'), 3, "empty secret")


def test_key_without_value() -> None:
    assert_error(client("a", "ipaddr = 192.0.2.1\nsecret =\n"), 3, "'secret' has no value")


def test_unquoted_value_with_spaces() -> None:
    assert_error(client("a", "ipaddr = 192.0.2.1\nshortname = two words"), 3,
                 "unexpected 'words'", "quote")


def test_bad_tri_state() -> None:
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\n"
                             "require_message_authenticator = maybe"), 4,
                 "require_message_authenticator must be yes, no or auto, not 'maybe'")
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\n"
                             "limit_proxy_state = sometimes"), 4, "limit_proxy_state must be")


def test_bad_netmask() -> None:
    assert_error(client("a", f"ipaddr = 192.0.2.0\nnetmask = 33\nsecret = {SECRET}"), 3,
                 "netmask", "0 to 32")
    assert_error(client("a", f"ipaddr = 192.0.2.0/24\nnetmask = 16\nsecret = {SECRET}"), 3,
                 "both /24 and netmask = 16")


def test_unterminated_section() -> None:
    assert_error(f"\nclient vpn1 {{\n ipaddr = 192.0.2.1\n secret = {SECRET}\n", 2,
                 'client "vpn1" is not closed')


def test_unterminated_nested_section() -> None:
    text = f"client a {{\nipaddr = 192.0.2.1\nsecret = {SECRET}\nlimit {{\n"
    assert_error(text, 4, "limit is not closed")
    # the client's '}' closes limit, so the client is the one left open
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\nlimit {{"), 1,
                 'client "a" is not closed')


def test_unterminated_quote() -> None:
    assert_error(client("a", 'ipaddr = 192.0.2.1\nsecret = "abc'), 3, "unterminated quoted")


def test_stray_closing_brace() -> None:
    assert_error(client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}") + "}\n", 5, "'}'")


def test_bad_octal_escape() -> None:
    assert_error(client("a", 'ipaddr = 192.0.2.1\nsecret = "\\777abcdefghijklm"'), 3, "octal")


def test_pair_outside_client() -> None:
    assert_error(f"secret = {SECRET}\n", 1, "outside a client section")


def test_other_top_level_section() -> None:
    assert_error("clients per_socket {\n}\n", 1, "unexpected section 'clients'")


def test_client_without_name() -> None:
    assert_error(f"client {{\n ipaddr = 192.0.2.1\n secret = {SECRET}\n}}\n", 1, "needs a name")


def test_garbage_line() -> None:
    assert_error("client a b c {\n}\n", 1, "expected '=' or '{'")


def test_variable_references_are_refused() -> None:
    assert_error(client("a", 'ipaddr = 192.0.2.1\nsecret = "${secrets.vpn}"'), 3,
                 "variable references")
    # single quotes are literal in FreeRADIUS, so no expansion is implied
    c = one(client("a", "ipaddr = 192.0.2.1\nsecret = '${not-a-variable}'"))
    assert c.secret == b"${not-a-variable}"


def test_conflicting_duplicate_network() -> None:
    text = (client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}")
            + client("b", "ipaddr = 192.0.2.1/32\nsecret = other-secret-0123"))
    assert_error(text, 5, "same network 192.0.2.1/32", "clients.conf line 1")


def test_duplicate_network_with_different_settings() -> None:
    text = (client("a", f"ipaddr = 192.0.2.1\nsecret = {SECRET}")
            + client("b", f"ipaddr = 192.0.2.1\nsecret = {SECRET}\nlimit_proxy_state = no"))
    assert_error(text, 5, "different secret or settings")


def test_duplicate_name() -> None:
    text = (client("vpn", f"ipaddr = 192.0.2.1\nsecret = {SECRET}")
            + client("vpn", f"ipaddr = 192.0.2.2\nsecret = {SECRET}"))
    assert_error(text, 5, 'client name "vpn" is already used at clients.conf line 1')


def test_error_names_the_given_file() -> None:
    message = error_of(client("a", "ipaddr = 192.0.2.1"), "/etc/radmfa/clients.conf")
    assert message == '/etc/radmfa/clients.conf line 1: client "a" has no secret'


# --- files and $INCLUDE --------------------------------------------------------


def test_load_clients_and_include(tmp_path: Path) -> None:
    (tmp_path / "clients.d").mkdir()
    (tmp_path / "clients.d" / "10-vpn.conf").write_text(
        client("vpn", f"ipaddr = 192.0.2.10\nsecret = {SECRET}"))
    (tmp_path / "clients.d" / "20-nps.conf").write_text(
        client("nps", f"ipaddr = 192.0.2.20\nsecret = {SECRET}"))
    (tmp_path / "clients.d" / ".hidden").write_text("garbage {")
    (tmp_path / "clients.d" / "old.conf~").write_text("garbage {")
    (tmp_path / "extra.conf").write_text(
        "\n" + client("extra", f"ipaddr = 192.0.2.30\nsecret = {SECRET}"))
    main = tmp_path / "clients.conf"
    main.write_text(
        client("local", f"ipaddr = 127.0.0.1\nsecret = {SECRET}")
        + "$INCLUDE extra.conf\n$INCLUDE clients.d/\n$INCLUDE- missing.conf\n"
    )
    table = load_clients(main)
    assert [c.name for c in table] == ["local", "extra", "vpn", "nps"]
    assert table.match("192.0.2.30").source == f"{tmp_path / 'extra.conf'}:2"  # type: ignore[union-attr]


def test_include_inside_a_client_section(tmp_path: Path) -> None:
    (tmp_path / "secret.conf").write_text('secret = "from-an-include-file"\n')
    main = tmp_path / "clients.conf"
    main.write_text("client a {\n ipaddr = 192.0.2.1\n $INCLUDE secret.conf\n}\n")
    assert next(iter(load_clients(main))).secret == b"from-an-include-file"


def test_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.conf").write_text("\n\nclient bad {\n ipaddr = 192.0.2.1\n}\n")
    main = tmp_path / "clients.conf"
    main.write_text("$INCLUDE bad.conf\n")
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'bad.conf'} line 3: ")):
        load_clients(main)


def test_missing_include_and_missing_file(tmp_path: Path) -> None:
    main = tmp_path / "clients.conf"
    main.write_text("\n$INCLUDE nope.conf\n")
    with pytest.raises(ConfigError, match=r"clients.conf line 2: cannot read .*nope.conf"):
        load_clients(main)
    with pytest.raises(ConfigError, match="cannot read"):
        load_clients(tmp_path / "absent.conf")


def test_recursive_include(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("$INCLUDE b.conf\n")
    (tmp_path / "b.conf").write_text("$INCLUDE a.conf\n")
    with pytest.raises(ConfigError, match="b.conf line 1: .*includes itself"):
        load_clients(tmp_path / "a.conf")


def test_non_utf8_secret_bytes_survive(tmp_path: Path) -> None:
    path = tmp_path / "clients.conf"
    path.write_bytes(b"client a {\n ipaddr = 192.0.2.1\n secret = \xe9t\xe9-0123456789\n}\n")
    assert next(iter(load_clients(path))).secret == b"\xe9t\xe9-0123456789"


# --- real files ----------------------------------------------------------------


def test_shipped_example_clients_conf() -> None:
    table = load_clients(REPO / "clients.conf")
    assert [c.name for c in table] == ["localhost", "localhost_ipv6"]
    for c in table:
        assert c.secret == b"testing123-change-me"
        assert c.require_message_authenticator == "yes"
        assert c.limit_proxy_state == "yes"
    assert table.match("127.0.0.1") is not None
    assert table.match("::1") is not None
    assert table.warnings == ()


def test_shipped_example_commented_clients_are_valid() -> None:
    text = (REPO / "clients.conf").read_text()
    uncommented = re.sub(r"^#(client |\t|\})", r"\1", text, flags=re.MULTILINE)
    table = parse_clients(uncommented, str(REPO / "clients.conf"))
    assert [c.name for c in table] == ["localhost", "localhost_ipv6", "vpn1", "vpn-cluster", "rdgw"]
    assert table.match("192.0.2.10").name == "vpn1"  # type: ignore[union-attr]
    assert table.match("192.0.2.11").name == "vpn-cluster"  # type: ignore[union-attr]


@pytest.mark.skipif(not FREERADIUS_CLIENTS.exists(), reason="FreeRADIUS is not installed")
def test_freeradius_shipped_clients_conf() -> None:
    table = load_clients(FREERADIUS_CLIENTS)
    by_name = {c.name: c for c in table}
    assert by_name["localhost"].network == ipaddress.ip_network("127.0.0.1/32")
    assert by_name["localhost"].secret == b"testing123"
    assert by_name["localhost"].require_message_authenticator == "no"
    assert by_name["localhost_ipv6"].network == ipaddress.ip_network("::1/128")
    assert table.match("127.0.0.1") is by_name["localhost"]
    assert any("short" in w for w in table.warnings)  # testing123 is 10 bytes


def test_an_unquoted_secret_with_spaces_is_not_echoed():
    with pytest.raises(ConfigError) as e:
        parse_clients("client a {\n ipaddr = 10.0.0.1\n secret = Tr0ub4dor &3xyz\n}\n")
    assert "3xyz" not in str(e.value) and "Tr0ub4dor" not in str(e.value)
    assert "line 3" in str(e.value)
