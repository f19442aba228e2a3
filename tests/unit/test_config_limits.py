"""[limits] and [clients.<name>] app_name: defaults, overrides, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from radmfa.config import LimitsConfig, MethodLimit, load
from radmfa.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "radmfa.toml"
    p.write_text(text)
    return p


def test_limits_defaults(tmp_path: Path) -> None:
    limits = load(write(tmp_path, "")).limits
    assert limits == LimitsConfig()
    assert limits.user_window_s == 600
    assert limits.for_method("sms") == MethodLimit(5, 500)
    assert limits.for_method("voice") == MethodLimit(5, 200)
    with pytest.raises(ValueError, match="not a send method"):
        limits.for_method("totp")


def test_limits_overrides(tmp_path: Path) -> None:
    limits = load(write(tmp_path, "[limits]\nuser_window_s = 900\nsms_per_user = 3\nvoice_per_hour = 0\n")).limits
    assert limits.user_window_s == 900
    assert limits.sms == MethodLimit(3, 500)
    assert limits.voice == MethodLimit(5, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nsms_per_user = -1\n", r"radmfa.toml: \[limits\] sms_per_user: must be between 0 and 1000"),
        ("[limits]\nuser_window_s = 10\n", r"\[limits\] user_window_s: must be between 60 and 86400"),
        ("[limits]\npush_per_hour = \"many\"\n", r"\[limits\] push_per_hour: expected int"),
        ("[limits]\nsms_per_day = 5\n", r"\[limits\] sms_per_day: unknown setting"),
        ("limits = 5\n", r"\[limits\]: must be a table"),
    ],
)
def test_limits_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, text))


def test_client_app_name(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, '[clients.vpn1]\napp_name = "Corp VPN"\n[clients.rdg]\n'))
    assert cfg.clients["vpn1"].app_name == "Corp VPN"
    assert cfg.clients["rdg"].app_name == ""
    with pytest.raises(ConfigError, match=r"\[clients.vpn1\] app_name: must be at most 64 printable"):
        load(write(tmp_path, '[clients.vpn1]\napp_name = "Corp\\nVPN"\n'))
