"""The portal foundation's guards: origin check, CSRF tokens, the client
address behind a proxy, cookie names, and [portal] configuration."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from radmfa.config import load
from radmfa.errors import ConfigError
from radmfa.web import security
from radmfa.web.app import safe_path
from radmfa.web.sessions import cookie_names

ORIGIN = "https://mfa.example.com"


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({}, True),  # old clients: the token decides
        ({"Origin": ORIGIN}, True),
        ({"Origin": "https://MFA.example.com"}, True),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "null"}, True),  # a no-referrer page of ours
        ({"Sec-Fetch-Site": "cross-site", "Origin": ORIGIN}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),  # a sibling host is another origin
    ],
)
def test_same_origin(headers: dict[str, str], ok: bool) -> None:
    request = make_mocked_request("POST", "/account/default", headers=headers)
    assert security.same_origin(request, ORIGIN) is ok


def test_pre_sign_in_token_is_bound_to_its_cookie() -> None:
    key = b"k" * 32
    assert security.pre_token(key, "cookie-a") == security.pre_token(key, "cookie-a")
    assert security.pre_token(key, "cookie-a") != security.pre_token(key, "cookie-b")
    assert security.pre_token(b"x" * 32, "cookie-a") != security.pre_token(key, "cookie-a")
    assert not security.token_ok("", "")
    assert security.token_ok("abc", "abc") and not security.token_ok("abd", "abc")


def test_client_address_behind_a_trusted_proxy() -> None:
    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7, 10.0.0.3"}
    via_proxy = make_mocked_request("GET", "/", headers=forwarded, transport=_peer("10.0.0.2"))
    assert security.client_address(via_proxy, proxies) == "198.51.100.7"
    direct = make_mocked_request("GET", "/", headers=forwarded, transport=_peer("198.51.100.20"))
    assert security.client_address(direct, proxies) == "198.51.100.20"  # not a proxy: the header is ignored
    assert security.client_address(via_proxy, ()) == "10.0.0.2"


def _peer(address: str):  # noqa: ANN202
    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return (address, 40000) if name == "peername" else default

    return Transport()


def test_cookie_names() -> None:
    assert cookie_names("user", "https://mfa.example.com") == ("__Host-radmfa-user", "__Host-radmfa-user-pre")
    assert cookie_names("user", "https://example.com/mfa")[0] == "__Secure-radmfa-user"
    assert cookie_names("user", "http://127.0.0.1:8080")[0] == "radmfa-user"


def test_enrollment_tokens_are_not_logged() -> None:
    assert safe_path("/enroll/abcDEF123_-") == "/enroll/…"
    assert safe_path("/enroll/verify/start") == "/enroll/…/start"  # over-masking is harmless
    assert safe_path("/account") == "/account"


def _config(tmp_path: Path, portal: str, mfa: str = "") -> Path:
    path = tmp_path / "radmfa.toml"
    path.write_text(f"[mfa]\n{mfa}\n[portal]\n{portal}\n")
    return path


def test_portal_names_itself_in_the_radius_reject(tmp_path: Path) -> None:
    cfg = load(_config(tmp_path, 'listen = ["127.0.0.1:8081"]\npublic_url = "https://mfa.example.com"'))
    assert cfg.mfa.no_factor_message == (
        "No second factor is set up for this account yet. Set one up at https://mfa.example.com/"
    )
    own = load(_config(tmp_path, 'public_url = "https://mfa.example.com"', 'no_factor_message = "Call 1234."'))
    assert own.mfa.no_factor_message == "Call 1234."


@pytest.mark.parametrize(
    ("portal", "message"),
    [
        ('listen = ["127.0.0.1:8081"]', "[portal] public_url: is needed with listen"),
        ('public_url = "ftp://x"', "[portal] public_url: must be https://"),
        ('public_url = "https://x/?a=1"', "[portal] public_url: must have no ?query"),
        ('public_url = "https://x"\nenroll_message = "Go enroll."', "[portal] enroll_message: must contain {url}"),
        ('public_url = "https://x"\nupstream = "dc"', "[portal] upstream: no [upstreams.dc] table"),
        ('public_url = "https://x"\nembedded = true', "[portal] embedded: needs listen"),
        ('public_url = "https://x"\nsession_idle_minutes = 0', "[portal] session_idle_minutes: must be between 1"),
        ('public_url = "https://x"\ntrusted_proxies = ["10.0.0.1/8"]', "[portal] trusted_proxies[0]: not a network"),
        ('public_url = "https://x"\nlisten_on = 1', "[portal] listen_on: unknown setting"),
    ],
)
def test_bad_portal_config(tmp_path: Path, portal: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("?", r"\?")):
        load(_config(tmp_path, portal))
