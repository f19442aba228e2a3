from __future__ import annotations

import base64
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import Token
from tests.cli.conftest import Radmfa, assert_one_line_error


def tokens_of(radmfa: Radmfa, name: str | None = None) -> list[Token]:
    async def work(store: Store) -> list[Token]:
        return await store.list_tokens(name)

    return radmfa.store(work)


def otpauth_uri(out: str) -> str:
    (uri,) = [line for line in out.splitlines() if line.startswith("otpauth://")]
    return uri


def uri_secret(uri: str) -> bytes:
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


@pytest.fixture
def bob(radmfa: Radmfa) -> Radmfa:
    assert radmfa("user", "add", "bob").status == 0
    return radmfa


def test_add_prints_uri_with_a_160_bit_seed(bob: Radmfa) -> None:
    result = bob("token", "add", "bob", "--type", "totp", "--label", "phone")
    assert result.status == 0, result.err
    uri = otpauth_uri(result.out)
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parse_qs(parts.query)["issuer"] == ["radmfa"]
    seed = uri_secret(uri)
    assert len(seed) == 20
    (token,) = tokens_of(bob, "bob")
    assert token.secret == seed and token.label == "phone"
    assert "\x1b" not in result.out  # no QR code when stdout is not a terminal


def test_add_with_options(bob: Radmfa) -> None:
    result = bob("token", "add", "bob", "--type", "totp", "--digits", "8", "--period", "60",
                 "--algorithm", "sha256")
    assert result.status == 0, result.err
    query = parse_qs(urlsplit(otpauth_uri(result.out)).query)
    assert query["digits"] == ["8"] and query["period"] == ["60"]
    assert query["algorithm"] == ["SHA256"]
    (token,) = tokens_of(bob)
    assert (token.digits, token.period, token.algorithm) == (8, 60, "sha256")


def test_add_with_given_secret(bob: Radmfa) -> None:
    seed = bytes(range(16))  # exactly 128 bits: the least allowed
    text = base64.b32encode(seed).decode().rstrip("=").lower()
    result = bob("token", "add", "bob", "--type", "totp", "--secret", text)
    assert result.status == 0, result.err
    assert uri_secret(otpauth_uri(result.out)) == seed
    assert tokens_of(bob)[0].secret == seed


def test_add_with_secret_from_stdin(bob: Radmfa) -> None:
    seed = bytes(range(20))
    result = bob("token", "add", "bob", "--type", "totp", "--secret", "-",
                 stdin=base64.b32encode(seed).decode() + "\n")
    assert result.status == 0, result.err
    assert tokens_of(bob)[0].secret == seed


def test_short_secret_is_refused_with_the_rule(bob: Radmfa) -> None:
    result = bob("token", "add", "bob", "--type", "totp", "--secret", "JBSWY3DPEHPK3PXP")
    line = assert_one_line_error(result)
    assert 'user "bob"' in line
    assert "128 bits" in line and "RFC 4226" in line and "80 bits" in line
    assert tokens_of(bob) == []


def test_invalid_base32_is_refused(bob: Radmfa) -> None:
    result = bob("token", "add", "bob", "--type", "totp", "--secret", "not base32 at all!1")
    line = assert_one_line_error(result)
    assert "base32" in line and 'user "bob"' in line
    assert tokens_of(bob) == []


def test_add_for_missing_user_stores_nothing(radmfa: Radmfa) -> None:
    result = radmfa("token", "add", "ghost", "--type", "totp")
    assert "no such user: ghost" in assert_one_line_error(result)
    assert tokens_of(radmfa) == []


@pytest.mark.parametrize(
    "argv",
    [
        ("--digits", "9"),
        ("--period", "5"),
        ("--algorithm", "md5"),
        ("--type", "hotp"),
    ],
)
def test_bad_options_are_usage_errors(bob: Radmfa, argv: tuple[str, ...]) -> None:
    base = ["token", "add", "bob"] + ([] if "--type" in argv else ["--type", "totp"])
    assert_one_line_error(bob(*base, *argv), status=2)
    assert tokens_of(bob) == []


def test_list_and_delete(bob: Radmfa) -> None:
    bob("user", "add", "alice")
    bob("token", "add", "bob", "--type", "totp", "--label", "phone")
    bob("token", "add", "alice", "--type", "totp", "--label", "tablet")

    everyone = bob("token", "list", "--format", "csv")
    assert everyone.out.splitlines()[0] == (
        "id,user,type,digits,period,algorithm,label,created,last_used,serial"
    )
    assert len(everyone.out.splitlines()) == 3

    alices = bob("token", "list", "alice")
    assert "tablet" in alices.out and "phone" not in alices.out
    token_id = tokens_of(bob, "alice")[0].id

    assert bob("token", "delete", str(token_id)).status == 0
    assert tokens_of(bob, "alice") == []
    again = bob("token", "delete", str(token_id))
    assert f"token {token_id} does not exist" in assert_one_line_error(again)


def test_list_for_missing_user(radmfa: Radmfa) -> None:
    assert_one_line_error(radmfa("token", "list", "ghost"))


def test_qr_code_only_on_a_terminal(bob: Radmfa, monkeypatch: pytest.MonkeyPatch) -> None:
    real_stdout = sys.stdout
    monkeypatch.setattr(real_stdout, "isatty", lambda: True, raising=False)
    result = bob("token", "add", "bob", "--type", "totp")
    assert result.status == 0, result.err
    uri_line = result.out.splitlines().index(otpauth_uri(result.out))
    assert "\x1b[" in "\n".join(result.out.splitlines()[uri_line + 1 :])  # the QR blocks
