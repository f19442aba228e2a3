"""PSKC (RFC 6030) and CSV seed files: RFC examples, MAC checks, safe XML, seed rules."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from radmfa.factors.totp import hotp
from radmfa.tokens_import import ImportFileError
from radmfa.tokens_import.csvfile import read_csv
from radmfa.tokens_import.pskc import read_pskc

HERE = Path(__file__).parent / "pskc"
PSK = bytes.fromhex("12345678901234567890123456789012")  # RFC 6030 Figure 6
# RFC 4226 Appendix D: the secret "12345678901234567890"; 8-digit codes for counters 0 and 1
# are the low 8 decimal digits of the truncated values 1284755224 and 1094287082.
RFC4226_SECRET = b"12345678901234567890"
CODES_8 = (b"84755224", b"94287082")


def figure(n: int) -> bytes:
    return (HERE / f"rfc6030-figure{n}.xml").read_bytes()


@pytest.mark.parametrize(
    ("n", "kwargs"),
    [(3, {}), (6, {"psk": PSK}), (7, {"password": "qwerty"})],
)
def test_rfc6030_examples_give_the_rfc4226_codes(n, kwargs):
    [token] = read_pskc(figure(n), where=f"figure{n}", **kwargs)
    assert token.serial == "987654321" and token.kind == "hotp" and token.digits == 8
    assert token.secret == RFC4226_SECRET and token.counter == 0
    codes = tuple(hotp(token.secret, c, digits=token.digits, algorithm=token.algorithm) for c in (0, 1))
    assert codes == CODES_8


def test_tampered_mac_is_refused():
    data = figure(6).replace(b"Su+NvtQfmvfJzF6bmQiJqoLRExc=", b"Tu+NvtQfmvfJzF6bmQiJqoLRExc=")
    with pytest.raises(ImportFileError, match="token '987654321'.*MAC check failed.*nothing was imported"):
        read_pskc(data, where="f6", psk=PSK)


ATTACKER_SEED = b"attacker-chosen-seed-0123"


@pytest.mark.parametrize(("n", "kwargs"), [(6, {"psk": PSK}), (7, {"password": "qwerty"})])
def test_plainvalue_secret_in_an_encrypted_container_is_refused(n, kwargs):
    # Whoever alters the file in transit without the key
    # swaps the encrypted, MAC'd secret for a PlainValue of their own seed.
    data = re.sub(
        rb"<(pskc:)?Secret>.*?</(pskc:)?Secret>",
        b"<Secret><PlainValue>" + base64.b64encode(ATTACKER_SEED) + b"</PlainValue></Secret>",
        figure(n), flags=re.S,
    )
    assert base64.b64encode(ATTACKER_SEED) in data
    with pytest.raises(ImportFileError, match="token '987654321': a plain secret in an encrypted container"):
        read_pskc(data, where=f"f{n}", **kwargs)


@pytest.mark.parametrize("kwargs", [{"psk": PSK}, {"password": "qwerty"}])
def test_a_key_given_for_a_file_with_no_encryption_key_is_refused(kwargs):
    # The admin expects protected seeds (--psk); the file was replaced by a plain one.
    with pytest.raises(ImportFileError, match="a key was given .* but the file has no EncryptionKey"):
        read_pskc(figure(3), where="f3", **kwargs)


def test_tampered_ciphertext_is_refused_by_the_mac():
    data = figure(6).replace(b"AAECAwQFBgcICQoLDA0OD+cI", b"AAECAwQFBgcICQoLDA0OD+cJ")
    with pytest.raises(ImportFileError, match="MAC check failed"):
        read_pskc(data, where="f6", psk=PSK)


@pytest.mark.parametrize(
    ("n", "kwargs", "message"),
    [
        (6, {}, "encrypted with a pre-shared key \\('Pre-shared-key'\\): give --psk HEX"),
        (7, {}, "encrypted with a password \\('My Password 1'\\): give --password"),
        (6, {"psk": bytes(16)}, "wrong --psk or --password|MAC check failed"),
        (7, {"password": "qwertz"}, "wrong --psk or --password|MAC check failed"),
        (6, {"psk": bytes(8)}, "the key must be 16 bytes for aes128-cbc"),
    ],
)
def test_missing_or_wrong_keys(n, kwargs, message):
    with pytest.raises(ImportFileError, match=message):
        read_pskc(figure(n), where="f", **kwargs)


def test_encrypted_value_without_mac_is_refused():
    data = figure(6).replace(b"<ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=\n                    </ValueMAC>", b"")
    with pytest.raises(ImportFileError, match="encrypted without a ValueMAC"):
        read_pskc(data, where="f6", psk=PSK)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"><KeyPackage>&lol2;</KeyPackage></KeyContainer>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">&xxe;</KeyContainer>
"""


@pytest.mark.parametrize("data", [BOMB, XXE, b"not xml", b"<KeyContainer Version='2.0'/>"])
def test_unsafe_or_foreign_xml_is_refused(data):
    with pytest.raises(ImportFileError, match="PSKC"):
        read_pskc(data, where="evil.xml")


def test_short_seed_is_refused_naming_the_token_and_the_rule():
    short = base64.b64encode(b"0123456789").decode()  # 80 bits
    data = figure(3).replace(b"MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", short.encode())
    with pytest.raises(ImportFileError) as e:
        read_pskc(data, where="f3.xml")
    assert str(e.value) == (
        "f3.xml: token '987654321': the seed is 80 bits; seeds must have at least 128 bits "
        "(RFC 4226 §4 R6); nothing was imported"
    )


SEED32 = base64.b32encode(RFC4226_SECRET).decode()


def test_csv_with_header_and_aliases():
    data = f"Serial Number,Secret Key,Time Interval,digits,algorithm\nA1,{SEED32.lower()},60,8,SHA256\n"
    [t] = read_csv(data.encode(), where="t.csv")
    assert (t.serial, t.secret, t.period, t.digits, t.algorithm, t.kind) == (
        "A1", RFC4226_SECRET, 60, 8, "sha256", "totp"
    )


def test_csv_positional_and_hotp():
    data = f"A1,{SEED32},30\nB2,{SEED32},,6,sha1,hotp,5\n"
    a, b = read_csv(data.encode(), where="t.csv")
    assert a.kind == "totp" and a.period == 30
    assert b.kind == "hotp" and b.counter == 5
    assert hotp(b.secret, 0) == b"755224"  # RFC 4226 Appendix D, counter 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("A1,AAAA,30\n", "t.csv line 1: token 'A1': the seed is 16 bits"),
        (f"serial,secret\nA1,{SEED32}\nB2,not-base32!,30\n", "t.csv line 3: token 'B2': the secret is not base32"),
        (f"A1,{SEED32},5\n", "token 'A1': time step 5s"),
        (f"A1,{SEED32},30,9\n", "token 'A1': 9 digits"),
        (f"A1,{SEED32},30,6,md5\n", "token 'A1': algorithm 'md5'"),
        ("serial,period\nA1,30\n", "the header has no secret column"),
        ("", "no tokens"),
    ],
)
def test_csv_errors(data, message):
    with pytest.raises(ImportFileError, match=message):
        read_csv(data.encode(), where="t.csv")


TOTP_PSKC = b"""<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
  <KeyPackage>
    <DeviceInfo><Manufacturer>Acme</Manufacturer><SerialNo>T-1</SerialNo></DeviceInfo>
    <Key Id="k1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <AlgorithmParameters>
        <Suite>HMAC-SHA256</Suite><ResponseFormat Length="8" Encoding="DECIMAL"/>
      </AlgorithmParameters>
      <Data>
        <Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=</PlainValue></Secret>
        <TimeInterval><PlainValue>60</PlainValue></TimeInterval>
      </Data>
    </Key>
  </KeyPackage>
  <KeyPackage>
    <Key Id="k2" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data>
    </Key>
  </KeyPackage>
</KeyContainer>
"""


def test_totp_keys_with_suite_interval_and_key_id_serials():
    a, b = read_pskc(TOTP_PSKC, where="t.xml")
    assert (a.serial, a.kind, a.algorithm, a.digits, a.period, a.label) == ("T-1", "totp", "sha256", 8, 60, "Acme")
    assert a.secret == b"12345678901234567890123456789012"
    # RFC 6238 Appendix B, SHA-256 at T = 59 s with 30-s steps is step 1; here 60-s steps: step 1 is T = 60..119
    assert hotp(a.secret, 1, digits=8, algorithm="sha256") == b"46119246"
    assert (b.serial, b.period, b.digits, b.algorithm) == ("k2", 30, 6, "sha1")  # no DeviceInfo: the Key Id
