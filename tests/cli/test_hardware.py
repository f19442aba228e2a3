"""`radmfa token import|unassigned|assign|resync` in process, on a real SQLite store."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from radmfa.factors.totp import hotp
from tests.cli.conftest import assert_one_line_error

PSKC = Path(__file__).parents[1] / "unit" / "pskc"
SECRET = b"12345678901234567890"
PSK_HEX = "12345678901234567890123456789012"


@pytest.fixture
def figure6(tmp_path: Path) -> Path:
    return Path(shutil.copy(PSKC / "rfc6030-figure6.xml", tmp_path / "tokens.pskc"))


def test_import_assign_and_admin_log(radmfa, figure6):
    r = radmfa("token", "import", str(figure6), "--psk", PSK_HEX)
    assert r.status == 0 and "imported 1 hardware tokens (1 hotp)" in r.out
    r = radmfa("token", "unassigned", "--format", "csv")
    assert r.out.splitlines()[1].startswith("987654321,hotp,8,,sha1,0,Manufacturer,")
    assert radmfa("user", "add", "alice").status == 0
    r = radmfa("token", "assign", "987654321", "alice")
    assert r.status == 0 and "assigned hotp token 987654321 to alice" in r.out
    assert "no unassigned hardware tokens" in radmfa("token", "unassigned").out
    listed = radmfa("token", "list", "alice", "--format", "csv").out.splitlines()[1].split(",")
    assert (listed[2], listed[4], listed[8], listed[9]) == ("hotp", "", "", "987654321")
    tokens = radmfa.store(lambda s: s.list_tokens("alice"))
    assert [(t.serial, t.kind, t.digits, t.secret) for t in tokens] == [("987654321", "hotp", 8, SECRET)]
    events = radmfa.store(lambda s: s.query_admin_events())
    assert [(e.action, e.target) for e in events if e.action.startswith("token.")] == [
        ("token.import", "tokens.pskc"), ("token.assign", "alice"),
    ]
    for e in events:
        assert PSK_HEX not in e.detail


def test_psk_from_stdin_and_password_files(radmfa, tmp_path):
    f7 = Path(shutil.copy(PSKC / "rfc6030-figure7.xml", tmp_path / "f7.xml"))
    assert radmfa("token", "import", str(f7), "--password", "-", stdin="qwerty\n").status == 0
    f6 = Path(shutil.copy(PSKC / "rfc6030-figure6.xml", tmp_path / "f6.xml"))
    line = assert_one_line_error(radmfa("token", "import", str(f6), "--psk", "-", stdin=PSK_HEX + "\n"))
    assert "already imported: serial 987654321" in line


def test_keys_from_files(radmfa, tmp_path):
    # A key on the command line shows in ps and the shell history.
    f7 = Path(shutil.copy(PSKC / "rfc6030-figure7.xml", tmp_path / "f7.xml"))
    (tmp_path / "pw").write_text("qwerty\n")
    assert radmfa("token", "import", str(f7), "--password-file", str(tmp_path / "pw")).status == 0
    f6 = Path(shutil.copy(PSKC / "rfc6030-figure6.xml", tmp_path / "f6.xml"))
    (tmp_path / "psk").write_text(PSK_HEX + "\n")
    line = assert_one_line_error(radmfa("token", "import", str(f6), "--psk-file", str(tmp_path / "psk")))
    assert "already imported: serial 987654321" in line  # the key worked: the seed decrypted
    line = assert_one_line_error(radmfa("token", "import", str(f6), "--psk-file", str(tmp_path / "missing")))
    assert "cannot read the key file" in line


def test_a_key_for_a_plain_file_is_refused(radmfa, tmp_path):
    f3 = Path(shutil.copy(PSKC / "rfc6030-figure3.xml", tmp_path / "f3.xml"))
    line = assert_one_line_error(radmfa("token", "import", str(f3), "--psk", "-", stdin=PSK_HEX + "\n"))
    assert "the file has no EncryptionKey" in line
    assert radmfa.store(lambda s: s.list_hardware_tokens()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "encrypted with a pre-shared key ('Pre-shared-key'): give --psk HEX"),
        (["--psk", "zz"], "--psk must be hex digits"),
        (["--psk", "00" * 16], "wrong --psk or --password"),
        (["--format", "csv"], "line 1: token '<?xml version=\"1.0\" encoding=\"UTF-8\"?>': the seed is 0 bits"),
    ],
)
def test_import_errors_are_one_line_and_store_nothing(radmfa, figure6, argv, message):
    line = assert_one_line_error(radmfa("token", "import", str(figure6), *argv))
    assert message in line
    assert radmfa.store(lambda s: s.list_hardware_tokens()) == []


def test_tampered_file_is_refused(radmfa, figure6):
    figure6.write_bytes(figure6.read_bytes().replace(b"Su+NvtQf", b"Tu+NvtQf"))
    line = assert_one_line_error(radmfa("token", "import", str(figure6), "--psk", PSK_HEX))
    assert "token '987654321'" in line and "MAC check failed" in line


def test_csv_short_seed_names_token_and_rule(radmfa, tmp_path):
    f = tmp_path / "seeds.csv"
    good = base64.b32encode(SECRET).decode()
    f.write_text(f"serial,secret,period\nOK1,{good},30\nSHORT,{base64.b32encode(b'x' * 10).decode()},30\n")
    line = assert_one_line_error(radmfa("token", "import", str(f)))
    assert "seeds.csv line 3: token 'SHORT': the seed is 80 bits" in line and "RFC 4226" in line
    assert radmfa.store(lambda s: s.list_hardware_tokens()) == []  # not even OK1


def test_assign_errors(radmfa, figure6):
    radmfa("token", "import", str(figure6), "--psk", PSK_HEX)
    assert "no such user: nobody" in assert_one_line_error(radmfa("token", "assign", "987654321", "nobody"))
    radmfa("user", "add", "alice")
    assert "no unassigned hardware token" in assert_one_line_error(radmfa("token", "assign", "nope", "alice"))


def test_resync(radmfa, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(f"serial,secret,type\nH1,{base64.b32encode(SECRET).decode()},hotp\n")
    radmfa("token", "import", str(f))
    radmfa("user", "add", "alice")
    radmfa("token", "assign", "H1", "alice")
    far = [hotp(SECRET, c).decode() for c in (300, 301, 303)]
    line = assert_one_line_error(radmfa("token", "resync", "H1", far[0], far[2]))
    assert "not consecutive codes within 1000" in line
    r = radmfa("token", "resync", "H1", far[0], far[1])
    assert r.status == 0 and "the next code is number 302" in r.out
    [token] = radmfa.store(lambda s: s.list_tokens("alice"))
    assert token.last_step == 301
    assert "counter 301" in radmfa("token", "list", "alice").out
    assert "not consecutive" in assert_one_line_error(radmfa("token", "resync", "H1", far[0], far[1]))  # behind now
    assert "no assigned token" in assert_one_line_error(radmfa("token", "resync", "NOPE", "1", "2"))
