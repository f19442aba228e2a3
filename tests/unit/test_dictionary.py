"""The project dictionary and its loader (checklist §12.2)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pyrad.dictionary import Dictionary

from radmfa.errors import ConfigError
from radmfa.radius.dictionary import attribute_code, attribute_name, load_dictionary

REPO = Path(__file__).resolve().parents[2]
DICTIONARY = REPO / "dictionary"
FREERADIUS_SHARE = Path("/usr/share/freeradius")

# RFC 2865 §5 attributes 1..63, with the dictionary type for the RFC's data
# type: text -> string, string -> octets, address -> ipaddr, integer ->
# integer. Exceptions follow FreeRADIUS: User-Password is "string
# encrypt=1", Vendor-Specific is octets because pyrad skips the "vsa" type.
# 17 and 21 are unassigned; 40-59 are accounting (RFC 2866 / 2869).
RFC2865 = {
    1: ("User-Name", "string"),
    2: ("User-Password", "string"),
    3: ("CHAP-Password", "octets"),
    4: ("NAS-IP-Address", "ipaddr"),
    5: ("NAS-Port", "integer"),
    6: ("Service-Type", "integer"),
    7: ("Framed-Protocol", "integer"),
    8: ("Framed-IP-Address", "ipaddr"),
    9: ("Framed-IP-Netmask", "ipaddr"),
    10: ("Framed-Routing", "integer"),
    11: ("Filter-Id", "string"),
    12: ("Framed-MTU", "integer"),
    13: ("Framed-Compression", "integer"),
    14: ("Login-IP-Host", "ipaddr"),
    15: ("Login-Service", "integer"),
    16: ("Login-TCP-Port", "integer"),
    18: ("Reply-Message", "string"),
    19: ("Callback-Number", "string"),
    20: ("Callback-Id", "string"),
    22: ("Framed-Route", "string"),
    23: ("Framed-IPX-Network", "ipaddr"),
    24: ("State", "octets"),
    25: ("Class", "octets"),
    26: ("Vendor-Specific", "octets"),
    27: ("Session-Timeout", "integer"),
    28: ("Idle-Timeout", "integer"),
    29: ("Termination-Action", "integer"),
    30: ("Called-Station-Id", "string"),
    31: ("Calling-Station-Id", "string"),
    32: ("NAS-Identifier", "string"),
    33: ("Proxy-State", "octets"),
    34: ("Login-LAT-Service", "string"),
    35: ("Login-LAT-Node", "string"),
    36: ("Login-LAT-Group", "octets"),
    37: ("Framed-AppleTalk-Link", "integer"),
    38: ("Framed-AppleTalk-Network", "integer"),
    39: ("Framed-AppleTalk-Zone", "string"),
    60: ("CHAP-Challenge", "octets"),
    61: ("NAS-Port-Type", "integer"),
    62: ("Port-Limit", "integer"),
    63: ("Login-LAT-Port", "string"),
}

VENDORS = {
    "Microsoft": 311,
    "Cisco": 9,
    "Cisco-ASA": 3076,
    "Fortinet": 12356,
    "PaloAlto": 25461,
    "Juniper": 2636,
    "Citrix": 66,
}


@pytest.fixture(scope="module")
def d() -> Dictionary:
    return load_dictionary(DICTIONARY)


def test_loads_without_skipping_anything(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pyrad"):
        d = load_dictionary(str(DICTIONARY))
    assert d.skipped_attributes == set()
    assert caplog.records == []  # pyrad warns about skipped or orphan definitions
    assert len(d) > 150


@pytest.mark.parametrize(("code", "name_and_type"), sorted(RFC2865.items()))
def test_rfc2865_attribute(d: Dictionary, code: int, name_and_type: tuple[str, str]) -> None:
    name, datatype = name_and_type
    assert d.attrindex.GetBackward(code) == name
    attr = d[name]
    assert (attr.code, attr.type, attr.vendor) == (code, datatype, "")


def test_rfc2865_unassigned_codes_absent(d: Dictionary) -> None:
    assert not d.attrindex.HasBackward(17)
    assert not d.attrindex.HasBackward(21)


def test_hidden_attributes(d: Dictionary) -> None:
    assert d["User-Password"].encrypt == 1  # RFC 2865 §5.2
    send = d["MS-MPPE-Send-Key"]
    assert (send.vendor, send.code, send.type, send.encrypt) == ("Microsoft", 16, "octets", 2)
    recv = d["MS-MPPE-Recv-Key"]
    assert (recv.vendor, recv.code, recv.encrypt) == ("Microsoft", 17, 2)
    assert d["MS-CHAP-MPPE-Keys"].encrypt == 1
    tunnel = d["Tunnel-Password"]
    assert (tunnel.code, tunnel.has_tag, tunnel.encrypt) == (69, True, 2)


def test_rfc2869_attributes(d: Dictionary) -> None:
    assert (d["Message-Authenticator"].code, d["Message-Authenticator"].type) == (80, "octets")
    assert (d["EAP-Message"].code, d["EAP-Message"].type) == (79, "octets")
    prompt = d["Prompt"]
    assert prompt.code == 76
    assert prompt.values.GetForward("No-Echo") == b"\x00\x00\x00\x00"
    assert prompt.values.GetForward("Echo") == b"\x00\x00\x00\x01"
    assert d["Acct-Interim-Interval"].code == 85
    assert d["Event-Timestamp"].type == "date"


def test_rfc2866_and_2868(d: Dictionary) -> None:
    assert d["Acct-Status-Type"].code == 40
    assert d["Acct-Status-Type"].values.GetForward("Interim-Update") == b"\x00\x00\x00\x03"
    for name, code in [("Tunnel-Type", 64), ("Tunnel-Medium-Type", 65),
                       ("Tunnel-Private-Group-Id", 81), ("Tunnel-Server-Auth-Id", 91)]:
        assert (d[name].code, d[name].has_tag) == (code, True)
    assert d["Tunnel-Type"].values.GetForward("VLAN") == b"\x00\x00\x00\x0d"


def test_rfc3162_and_5176(d: Dictionary) -> None:
    assert (d["NAS-IPv6-Address"].code, d["NAS-IPv6-Address"].type) == (95, "ipv6addr")
    assert (d["Framed-IPv6-Prefix"].code, d["Framed-IPv6-Prefix"].type) == (97, "ipv6prefix")
    assert d["Framed-Interface-Id"].type == "ifid"
    cause = d["Error-Cause"]
    assert cause.code == 101
    assert cause.values.GetForward("Session-Context-Not-Found") == (503).to_bytes(4, "big")
    assert d["Service-Type"].values.GetForward("Authorize-Only") == (17).to_bytes(4, "big")


def test_value_names(d: Dictionary) -> None:
    service = d["Service-Type"].values
    assert service.GetForward("Framed-User") == (2).to_bytes(4, "big")
    assert service.GetForward("Authenticate-Only") == (8).to_bytes(4, "big")
    assert d["NAS-Port-Type"].values.GetForward("Virtual") == (5).to_bytes(4, "big")


def test_vendors(d: Dictionary) -> None:
    for name, number in VENDORS.items():
        assert d.vendors.GetForward(name) == number


@pytest.mark.parametrize(
    ("name", "vendor", "code", "datatype"),
    [
        ("MS-CHAP-Challenge", 311, 11, "octets"),
        ("MS-CHAP2-Response", 311, 25, "octets"),
        ("MS-CHAP2-Success", 311, 26, "octets"),
        ("MS-CHAP-Error", 311, 2, "string"),
        ("MS-MPPE-Encryption-Policy", 311, 7, "integer"),
        ("MS-MPPE-Encryption-Types", 311, 8, "integer"),
        ("Cisco-AVPair", 9, 1, "string"),
        ("ASA-Group-Policy", 3076, 25, "string"),
        ("Fortinet-Group-Name", 12356, 1, "string"),
        ("Fortinet-Access-Profile", 12356, 6, "string"),
        ("PaloAlto-Admin-Role", 25461, 1, "string"),
        ("PaloAlto-User-Group", 25461, 5, "string"),
        ("Juniper-Local-User-Name", 2636, 1, "string"),
        ("Citrix-User-Groups", 66, 16, "string"),
    ],
)
def test_vendor_attributes(d: Dictionary, name: str, vendor: int, code: int,
                           datatype: str) -> None:
    assert d.attrindex.GetForward(name) == (vendor, code)
    assert d[name].type == datatype


@pytest.mark.skipif(not (FREERADIUS_SHARE / "dictionary.rfc2865").exists(),
                    reason="FreeRADIUS dictionaries are not installed")
@pytest.mark.parametrize(
    "filename",
    ["dictionary.rfc2865", "dictionary.rfc2866", "dictionary.rfc2868", "dictionary.rfc2869",
     "dictionary.rfc3162", "dictionary.microsoft", "dictionary.cisco", "dictionary.cisco.asa",
     "dictionary.fortinet", "dictionary.paloalto", "dictionary.citrix"],
    # dictionary.juniper is left out: it spells a type "String", which
    # FreeRADIUS accepts and pyrad does not.
)
def test_agrees_with_freeradius(d: Dictionary, filename: str) -> None:
    """Every attribute we share with FreeRADIUS has its number, vendor and flags."""
    theirs = load_dictionary(FREERADIUS_SHARE / filename)
    shared = [n for n in d.attributes if n in theirs.attributes]
    assert shared, f"no attribute of {filename} in our dictionary"
    for name in shared:
        ours, ref = d[name], theirs[name]
        assert d.attrindex.GetForward(name) == theirs.attrindex.GetForward(name), name
        assert (ours.type, ours.encrypt, ours.has_tag) == (ref.type, ref.encrypt, ref.has_tag), name


# --- helpers -------------------------------------------------------------------


def test_attribute_name(d: Dictionary) -> None:
    assert attribute_name(d, 1) == "User-Name"
    assert attribute_name(d, 80) == "Message-Authenticator"
    assert attribute_name(d, 26, 311, 16) == "MS-MPPE-Send-Key"
    assert attribute_name(d, 26, 3076, 25) == "ASA-Group-Policy"
    assert attribute_name(d, 200) == "Attr-200"
    assert attribute_name(d, 26, 311, 250) == "Attr-26.311.250"
    assert attribute_name(d, 26, 99999, 1) == "Attr-26.99999.1"
    assert attribute_name(d, 26, 311) == "Attr-26.311"


def test_attribute_code(d: Dictionary) -> None:
    assert attribute_code(d, "User-Name") == (1, None)
    assert attribute_code(d, "Message-Authenticator") == (80, None)
    assert attribute_code(d, "MS-MPPE-Send-Key") == (16, 311)
    assert attribute_code(d, "Fortinet-Group-Name") == (1, 12356)
    with pytest.raises(KeyError):
        attribute_code(d, "No-Such-Attribute")


# --- errors --------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "dictionary") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "ATTRIBUTE\tUser-Name\t1\tstring\n"


@pytest.mark.parametrize(
    ("bad_line", "fragment"),
    [
        ("ATTRIBUTE\tFoo\tabc\tstring", "illegal attribute code"),
        ("ATTRIBUTE\tFoo\t300\tnosuchtype", "illegal type"),
        ("ATTRIBUTE\tFoo\t3", "incorrect number of tokens"),
        ("ATTRIBUTE\tFoo\t3\tstring\tencrypt=9", "encryption"),
        ("VALUE\tUser-Name", "incorrect number of tokens"),
        ("END-VENDOR\tNobody", "non-open vendor"),
        ("BEGIN-VENDOR\tNobody", "unknown vendor"),
        ("ATRIBUTE\tFoo\t3\tstring", "unknown keyword 'ATRIBUTE'"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, bad_line: str, fragment: str) -> None:
    path = write(tmp_path, f"# header\n{GOOD}\n{bad_line}\n{GOOD}")
    with pytest.raises(ConfigError) as info:
        load_dictionary(path)
    message = str(info.value)
    assert message.startswith("dictionary line 4: "), message
    assert fragment in message, message


def test_bad_line_in_included_file(tmp_path: Path) -> None:
    write(tmp_path, f"{GOOD}{GOOD}ATTRIBUTE\tFoo\t3\tbogus\n", "dictionary.extra")
    path = write(tmp_path, f"{GOOD}$INCLUDE dictionary.extra\n")
    with pytest.raises(ConfigError, match=r"^dictionary\.extra line 3: illegal type"):
        load_dictionary(path)


def test_include_and_vendor_block(tmp_path: Path) -> None:
    write(tmp_path, "VENDOR\tExample\t32473\nBEGIN-VENDOR\tExample\n"
                    "ATTRIBUTE\tExample-Group\t1\tstring\nEND-VENDOR\tExample\n", "dict.example")
    d = load_dictionary(write(tmp_path, f"{GOOD}$INCLUDE dict.example\n"))
    assert attribute_code(d, "Example-Group") == (1, 32473)


def test_missing_file_and_missing_include(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read dictionary"):
        load_dictionary(tmp_path / "absent")
    with pytest.raises(ConfigError, match="cannot read dictionary .*nope"):
        load_dictionary(write(tmp_path, f"{GOOD}$INCLUDE nope\n"))


def test_recursive_include(tmp_path: Path) -> None:
    path = write(tmp_path, f"{GOOD}$INCLUDE dictionary\n")
    with pytest.raises(ConfigError, match=r"dictionary line 2: recursive include"):
        load_dictionary(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "dictionary"
    path.write_bytes(b"ATTRIBUTE\tCaf\xe9\t1\tstring\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_dictionary(path)
