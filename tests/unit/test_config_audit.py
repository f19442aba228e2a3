"""[audit], [smtp] and [fraud] notify_*: defaults, checks, secrets, the deprecated key."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from radmfa.config import load
from radmfa.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "radmfa.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, ""))
    assert cfg.audit.keep_days == 365 and not cfg.audit.record_names and not cfg.audit.record_email
    assert cfg.audit.server_name == socket.gethostname() and cfg.audit.server_ip == ""
    assert cfg.audit.destinations == "full"
    assert cfg.fraud.notify_email == () and cfg.fraud.notify_webhook == "" and cfg.smtp.host == ""
    assert cfg.warnings == ()


def test_full_sections_and_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "smtp.pw").write_text("s3cret-mail\n")
    (tmp_path / "hook.key").write_text("s3cret-hook\n")
    cfg = load(write(tmp_path, """
[audit]
keep_days = 30
record_names = true
record_email = true
server_name = "mfa1"
server_ip = "192.0.2.10"
destinations = "masked"

[smtp]
host = "mail.example.com"
port = 587
username = "radmfa"
password_file = "smtp.pw"
from = "radmfa@example.com"

[fraud]
notify_email = ["soc@example.com"]
notify_webhook = "https://hooks.example.com/T000/B000/XXXX"
webhook_secret_file = "hook.key"
"""))
    assert (cfg.audit.keep_days, cfg.audit.server_name, cfg.audit.server_ip) == (30, "mfa1", "192.0.2.10")
    assert cfg.audit.destinations == "masked"
    assert cfg.smtp.password == b"s3cret-mail" and cfg.smtp.starttls and cfg.smtp.port == 587
    assert cfg.fraud.webhook_secret == b"s3cret-hook" and cfg.fraud.notify_email == ("soc@example.com",)
    shown = repr(cfg)
    assert "s3cret" not in shown and "XXXX" not in shown  # a webhook URL often holds its token


def test_deprecated_retention_key_still_works(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "[store]\naudit_retention_days = 40\n"))
    assert cfg.audit.keep_days == 40
    (warning,) = cfg.warnings
    assert "[store] audit_retention_days is deprecated" in warning and "[audit] keep_days" in warning
    both = load(write(tmp_path, "[store]\naudit_retention_days = 40\n[audit]\nkeep_days = 7\n"))
    assert both.audit.keep_days == 7 and len(both.warnings) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[audit]\nkeep_days = 0", "[audit] keep_days: must be between 1 and 36500"),
        ("[audit]\nserver_ip = \"mfa1\"", "[audit] server_ip: not an IP address"),
        ("[audit]\nrecord_names = \"yes\"", "[audit] record_names: expected bool"),
        ("[audit]\ndestinations = \"hidden\"", "[audit] destinations: must be one of 'full', 'masked'"),
        ("[store]\naudit_retention_days = 0", "[store] audit_retention_days: must be between"),
        ('[fraud]\nnotify_email = ["soc@example.com"]', "[fraud] notify_email: needs [smtp] host"),
        ('[smtp]\nhost = "m"\nfrom = "a@b"\n[fraud]\nnotify_email = ["soc@example.com\\nBcc: x@y"]',
         "[fraud] notify_email[0]: not an email address"),
        ('[fraud]\nnotify_webhook = "ftp://x/y"', "[fraud] notify_webhook: must be an http:// or https:// URL"),
        ('[fraud]\nwebhook_secret_file = "nope.key"', "[fraud] webhook_secret_file: cannot read"),
        ('[smtp]\nhost = "mail.example.com"', "[smtp] from: needed with host"),
        ('[smtp]\nhost = "m"\nfrom = "a@b"\nusername = "u"', "[smtp] password_file: needed with username"),
        ('[smtp]\nhost = "m"\nfrom = "a@b"\nport = 0', "[smtp] port: must be between 1 and 65535"),
        ('[smtp]\nhots = "m"', "[smtp] hots: unknown setting"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert str(e.value).startswith("radmfa.toml: ") and message in str(e.value)


def test_an_empty_secret_file_is_an_error_not_an_unsigned_webhook(tmp_path: Path) -> None:
    # An empty key file would silently send alerts unsigned: the receiver
    # could no longer tell them from forgeries.
    (tmp_path / "hook.key").write_text("\n")
    text = '[fraud]\nnotify_webhook = "https://soc.example.com/hook"\nwebhook_secret_file = "hook.key"\n'
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert "[fraud] webhook_secret_file: " in str(e.value) and "is empty" in str(e.value)
