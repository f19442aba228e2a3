"""[http], [providers.<name>], the out-of-band [mfa] keys and client modes."""

from __future__ import annotations

import pytest

from radmfa.config import load
from radmfa.errors import ConfigError

HTTP = '[http]\nlisten = ["127.0.0.1:8080"]\npublic_url = "https://mfa.example.com/"\n'
TWILIO = '[providers.tw]\ntype = "twilio"\naccount_sid = "AC1"\nauth_token = "tok"\nsender = "+15005550006"\n'


def write(tmp_path, text):
    p = tmp_path / "radmfa.toml"
    p.write_text(text)
    return p


def test_defaults(tmp_path):
    cfg = load(write(tmp_path, ""))
    assert cfg.phone.otp_ttl_s == 300 and cfg.phone.oob_timeout_s == 50 and cfg.phone.fraud_code == "0#"
    assert cfg.phone.code_length == 6 and cfg.http.listen == () and cfg.phone.provider("sms") is None


def test_a_full_phone_configuration(tmp_path):
    (tmp_path / "ntfy.token").write_text("tk_123\n")
    cfg = load(
        write(
            tmp_path,
            HTTP + TWILIO + '[providers.push]\ntype = "ntfy"\nauth_token_file = "ntfy.token"\n'
            '[mfa]\nsms_provider = "tw"\nvoice_provider = "tw"\npush_provider = "push"\notp_ttl_s = 120\n'
            'oob_timeout_s = 20\nfraud_code = "99#"\n',
        )
    )
    assert cfg.http.public_url == "https://mfa.example.com" and cfg.http.listen == (("127.0.0.1", 8080),)
    tw = cfg.phone.provider("voice")
    assert tw is not None and tw.base_url == "https://api.twilio.com" and tw.auth_token == "tok"
    assert "tok" not in repr(tw)
    push = cfg.phone.provider("push")
    assert push is not None and push.auth_token == "tk_123" and push.base_url == "https://ntfy.sh"
    assert cfg.phone.otp_ttl_s == 120 and cfg.phone.oob_timeout_s == 20 and cfg.phone.fraud_code == "99#"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[http]\nlisten = ["127.0.0.1:8080"]\n', "[http] public_url: is needed with listen"),
        ('[http]\npublic_url = "ftp://x"\n', "[http] public_url: must be https://host"),
        ('[providers.x]\ntype = "carrier-pigeon"\n', "[providers.x] type: must be one of"),
        ('[providers.x]\ntype = "twilio"\nsender = "+1"\n', "[providers.x] account_sid: type = \"twilio\" needs"),
        ('[providers.x]\ntype = "webhook"\n', "[providers.x] url: type = \"webhook\" needs"),
        ('[providers.x]\ntype = "webhook"\nurl = "file:///etc/passwd"\n', "[providers.x] url: must be an http"),
        ('[providers.x]\ntype = "smtp"\nsender = "a@b"\nport = 0\n', "[providers.x] port: must be between"),
        ('[providers.x]\ntype = "console"\nwhat = 1\n', "[providers.x] what: unknown setting"),
        ('[mfa]\nsms_provider = "nope"\n', "[mfa] sms_provider: no [providers.nope]"),
        (TWILIO + '[mfa]\npush_provider = "tw"\n', "[mfa] push_provider: a twilio provider cannot deliver push"),
        (TWILIO + '[mfa]\nvoice_provider = "tw"\n', "[mfa] voice_provider: needs [http] listen"),
        ('[mfa]\nfraud_code = "0"\n', "[mfa] fraud_code:"),
        ("[mfa]\noob_timeout_s = 0\n", "[mfa] oob_timeout_s: must be between"),
        ("[mfa]\ncode_length = 3\n", "[mfa] code_length: must be between"),
        ('[providers.c]\ntype = "console"\n[mfa]\nsms_provider = "c"\ntwo_way_sms = true\n',
         "[mfa] two_way_sms: needs a twilio sms_provider, not console"),
        ('[http]\npublic_url = "https://"\n', "[http] public_url: must be https://host"),
        ('[http]\npublic_url = "https://mfa.example.com/?site=1"\n', "[http] public_url: must have no ?query"),
        ('[http]\npublic_url = "https://mfa.example.com/#x"\n', "[http] public_url: must have no ?query"),
    ],
)
def test_errors_name_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert "radmfa.toml" in str(e.value) and message in str(e.value)


def test_client_mode_and_primary(tmp_path):
    push = '[providers.push]\ntype = "ntfy"\n[mfa]\npush_provider = "push"\n'
    clients = '[clients.rdg]\nmode = "oob"\nprimary = "none"\n[clients.vpn]\nmode = "auto"\n'
    cfg = load(write(tmp_path, HTTP + push + clients))
    assert cfg.clients["rdg"].mode == "oob" and cfg.clients["rdg"].primary == "none"
    assert cfg.clients["vpn"].mode == "auto" and cfg.clients["vpn"].primary == "upstream"
    with pytest.raises(ConfigError, match=r"\[clients.rdg\] mode: must be one of"):
        load(write(tmp_path, '[clients.rdg]\nmode = "hold"\n'))
    with pytest.raises(ConfigError, match=r"\[clients.rdg\] primary: must be one of"):
        load(write(tmp_path, '[clients.rdg]\nprimary = "ldap"\n'))


def test_an_ntfy_topic_without_a_secret_is_warned_about(tmp_path):
    push = '[providers.push]\ntype = "ntfy"\n'
    mfa = '[mfa]\npush_provider = "push"\n'
    cfg = load(write(tmp_path, HTTP + push + mfa))
    assert cfg.phone.provider("push").topic == "radmfa-{user}-{secret}" and cfg.warnings == ()
    cfg = load(write(tmp_path, HTTP + push + 'topic = "radmfa-{user}"\n' + mfa))
    assert len(cfg.warnings) == 1 and "[providers.push] topic" in cfg.warnings[0] and "{secret}" in cfg.warnings[0]
