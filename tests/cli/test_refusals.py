"""Nonsense is refused with the reason, and a refused command changes nothing:
an e-mail that is no address, a local password where passwords are checked
elsewhere or one too short, a token seed a user already has, an `oob`
client nothing can call or push for."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from radmfa.core.admin_ports import Store
from tests.cli.conftest import MINIMAL_CONFIG, Radmfa, assert_one_line_error

SEED = base64.b32encode(bytes(range(20))).decode()
RADIUS_UPSTREAM = """\
[store]
url = "sqlite:///radmfa.db"

[upstream]
type = "radius"
servers = ["127.0.0.1:18120"]
secret = "upstream-secret-long-enough"
"""


@pytest.mark.parametrize(
    "address",
    ["bob", "bob@", "@example.com", "bob@example", "bob smith@example.com", "bob@exa mple.com",
     "bob@example.com, eve@example.com", "bob@example.com\nBcc: eve@example.com", "<bob@example.com>",
     "bob@@example.com", "bob@example..com"],
)
def test_an_email_must_be_one_address(radmfa: Radmfa, address: str) -> None:
    line = assert_one_line_error(radmfa("user", "add", "bob", "--email", address), status=2)
    assert "--email" in line and "not an e-mail address" in line, line
    assert "no users" in radmfa("user", "list").out  # nothing was added
    assert radmfa("user", "add", "carol", "--email", "carol@example.com").status == 0
    line = assert_one_line_error(radmfa("user", "set", "carol", "--email", address), status=2)
    assert "carol@example.com" in radmfa("user", "show", "carol").out  # nothing was changed


def test_an_email_can_be_set_and_cleared(radmfa: Radmfa) -> None:
    assert radmfa("user", "add", "bob", "--email", "Bob.Smith+vpn@mail.example.co.uk").status == 0
    assert "Bob.Smith+vpn@mail.example.co.uk" in radmfa("user", "show", "bob").out
    assert radmfa("user", "set", "bob", "--email", "").status == 0
    assert "email:     -" in radmfa("user", "show", "bob").out


@pytest.fixture
def radius_upstream(radmfa: Radmfa) -> Radmfa:
    radmfa.config_path.write_text(RADIUS_UPSTREAM)
    return radmfa


def test_no_local_password_when_the_upstream_checks_passwords(radius_upstream: Radmfa) -> None:
    assert radius_upstream("user", "add", "bob").status == 0
    line = assert_one_line_error(radius_upstream("user", "passwd", "bob", stdin="long-enough-pw\n"))
    assert 'type = "radius"' in line and 'type = "local"' in line, line
    assert "password:  not set" in radius_upstream("user", "show", "bob").out
    line = assert_one_line_error(radius_upstream("user", "add", "carol", "--password", stdin="long-enough-pw\n"))
    assert 'type = "local"' in line
    assert "carol" not in radius_upstream("user", "list").out


def test_a_named_local_upstream_takes_local_passwords(radius_upstream: Radmfa) -> None:
    radius_upstream.config_path.write_text(RADIUS_UPSTREAM + '\n[upstreams.lab]\ntype = "local"\n')
    assert radius_upstream("user", "add", "bob").status == 0
    assert radius_upstream("user", "passwd", "bob", stdin="long-enough-pw\n").status == 0


@pytest.mark.parametrize("command", [("user", "passwd", "alice"), ("user", "add", "bob", "--password")])
def test_a_local_password_has_a_minimum_length(radmfa: Radmfa, command: tuple[str, ...]) -> None:
    assert radmfa("user", "add", "alice").status == 0
    line = assert_one_line_error(radmfa(*command, stdin="seven77\n"))
    assert "at least 8 characters" in line and "nothing was changed" in line, line
    out = radmfa("user", "list", "--format", "csv").out
    assert "bob" not in out and ",set," not in out
    assert radmfa(*command, stdin="eight888\n").status == 0


def test_the_same_totp_secret_twice_for_one_user_is_refused(radmfa: Radmfa) -> None:
    for name in ("alice", "bob"):
        assert radmfa("user", "add", name).status == 0
    assert radmfa("token", "add", "alice", "--type", "totp", "--secret", SEED).status == 0
    spaced = " ".join(SEED[i:i + 4] for i in range(0, len(SEED), 4)).lower()  # as apps print it
    line = assert_one_line_error(radmfa("token", "add", "alice", "--type", "totp", "--secret", spaced, "--digits", "8"))
    assert "alice" in line and "already has a token with this secret" in line and "id 1" in line, line

    async def tokens(store: Store) -> list[str]:
        return [t.username for t in await store.list_tokens()]

    assert radmfa.store(tokens) == ["alice"]
    # another person's copy of the seed is theirs to have
    assert radmfa("token", "add", "bob", "--type", "totp", "--secret", SEED).status == 0


def clients_conf(tmp: Path) -> None:
    (tmp / "clients.conf").write_text('client rdg {\n  ipaddr = 127.0.0.1\n  secret = "a-long-random-secret-1"\n}\n')
    (tmp / "dictionary").write_text("ATTRIBUTE\tUser-Name\t1\tstring\n")


@pytest.mark.parametrize("mfa", ["", '[mfa]\nsms_provider = "con"\nemail_provider = "con"\n'])
def test_an_oob_client_needs_a_call_or_push_provider(radmfa: Radmfa, mfa: str) -> None:
    clients_conf(radmfa.config_path.parent)
    radmfa.config_path.write_text(
        MINIMAL_CONFIG + '\n[clients.rdg]\nmode = "oob"\n\n[providers.con]\ntype = "console"\n' + mfa
    )
    for command in (("check-config",), ("serve",)):
        line = assert_one_line_error(radmfa(*command))
        assert "[clients.rdg] mode" in line and "voice_provider" in line and "push_provider" in line, line


def test_an_oob_client_with_push_passes_check_config(radmfa: Radmfa) -> None:
    clients_conf(radmfa.config_path.parent)
    radmfa.config_path.write_text(MINIMAL_CONFIG + """
[clients.rdg]
mode = "oob"

[mfa]
push_provider = "ntfy"

[providers.ntfy]
type = "ntfy"

[http]
listen = ["127.0.0.1:18080"]
public_url = "https://mfa.example.com"
""")
    result = radmfa("check-config")
    assert result.status == 0, result.err


def test_a_hardware_token_with_a_seed_the_user_has_is_not_assigned(radmfa: Radmfa, tmp_path: Path) -> None:
    (tmp_path / "seeds.csv").write_text(f"serial,secret,period\nHW-1,{SEED},30\n")
    assert radmfa("token", "import", str(tmp_path / "seeds.csv")).status == 0
    assert radmfa("user", "add", "alice").status == 0
    assert radmfa("token", "add", "alice", "--type", "totp", "--secret", SEED).status == 0
    line = assert_one_line_error(radmfa("token", "assign", "HW-1", "alice"))
    assert "already has a token with this secret" in line
    assert "HW-1" in radmfa("token", "unassigned").out  # still waiting to be assigned
