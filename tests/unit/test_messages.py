"""Message templates: placeholders refused at add time, safe filling, the
built-in texts, recordings recognised by their first bytes."""

from __future__ import annotations

import pytest

from radmfa.config import ClientPolicy
from radmfa.core import messages
from radmfa.core.messages import MessageError, check_template, fill
from radmfa.core.model import MESSAGE_KINDS

VALUES = {"code": "12345678", "user": "alice", "app": "Corp VPN", "menu": "1 = text, 2 = call", "minutes": "5"}


def test_every_kind_has_a_builtin_text_that_passes_its_own_check() -> None:
    assert set(messages.BUILTIN) == set(MESSAGE_KINDS) == set(messages.PLACEHOLDERS)
    for kind, text in messages.BUILTIN.items():
        check_template(kind, text)
        assert "{" not in fill(kind, text, client="vpn1", values=VALUES), kind


def test_builtin_sms_is_one_gsm7_segment_with_an_8_digit_code_and_an_80_character_app() -> None:
    text = fill("sms", messages.BUILTIN["sms"], client="", values={**VALUES, "app": "A" * 80, "minutes": "10"})
    assert len(text) <= 160 and all(c in messages.GSM7 for c in text)
    assert messages.sms_segments(text) == 1
    short = fill("sms", messages.BUILTIN["sms"], client="", values=VALUES)
    assert short == "Your Corp VPN sign-in code is 12345678. Valid 5 minutes. Do not share it."


def test_sms_segments() -> None:
    assert messages.sms_segments("x" * 160) == 1
    assert messages.sms_segments("x" * 161) == 2  # 153 per concatenated segment
    assert messages.sms_segments("x" * 307) == 3
    assert messages.sms_segments("ł" * 70) == 1  # not GSM-7: UCS-2, 70 a segment
    assert messages.sms_segments("ł" * 71) == 2


def test_app_defaults_to_the_client_and_optional_values_to_their_defaults() -> None:
    assert fill("voice_prompt", messages.BUILTIN["voice_prompt"], client="vpn1", values={}) == (
        "If you are signing in to vpn1, press the pound key to finish. "
        "If you did not try to sign in, press zero, then pound to report fraud, or hang up."
    )


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("sms", "Code: {pin}", r"unknown placeholder \{pin\} in the sms message: it may use \{app\}, \{code\}"),
        ("voice_greeting", "Your code is {code}", r"unknown placeholder \{code\} in the voice_greeting"),
        ("sms", "{code.__class__}", r"unknown placeholder \{code.__class__\}"),
        ("sms", "{code[0]}", r"unknown placeholder \{code\[0\]\}"),
        ("sms", "{}", r"unknown placeholder \{\}"),
        ("sms", "{0}", r"unknown placeholder \{0\}"),
        ("sms", "{code!r}", r"placeholder \{code!r\} in the sms message: write it as \{code\}, plain"),
        ("sms", "{code:>10}", r"placeholder \{code:>10\}"),
        ("sms", "Code {code", "unbalanced braces"),
        ("sms", "Code } {code}", "unbalanced braces"),
        ("sms", "   ", "the sms message is empty"),
        ("sms", "{{code}}", r"must contain \{code\}"),  # a literal brace pair is no placeholder
        ("email_subject", "Code\r\nBcc: x@evil.example", "the email_subject message must be one line"),
        ("push_title", "a\nb", "must be one line"),
        ("sms", "{code}" + "x" * 607, "the sms message is 613 characters; at most 612"),
        ("challenge_code", "é" * 127, "254 octets without its placeholders; a Reply-Message holds 253"),
        ("sms", "bell\x07 {code}", "control characters"),
        ("sms", "Your code is below.", r"the sms message must contain \{code\}"),
        ("email_body", "Hello {user}", r"the email_body message must contain \{code\}"),
        ("challenge_menu", "Pick one:", r"the challenge_menu message must contain \{menu\}"),
        ("letter", "hi", "'letter' is not a message kind: use one of sms, voice_greeting"),
    ],
)
def test_check_template_refuses(kind: str, text: str, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        check_template(kind, text)


def test_check_template_accepts() -> None:
    check_template("sms", "{{Corp}} code {code} for {user} on {app}, {minutes} min")
    check_template("challenge_menu", "Code, or: {menu}" + "x" * 230)  # placeholders are not counted
    check_template("email_body", "Hello,\n\n{code}\n")


def test_fill_substitutes_only_bare_allowed_names() -> None:
    # A template that bypassed check_template (edited in the database) still
    # renders: unknown fields become empty, braces in values stay as they are.
    text = fill("sms", "{code}/{code.__class__}/{code[0]}/{menu}/{{x}}", client="", values={"code": "{user}"})
    assert text == "{user}////{x}"
    assert fill("sms", "broken {code", client="", values=VALUES).startswith("Your Corp VPN sign-in code is")
    # Control characters in values (a User-Name from the network) become spaces.
    assert fill("push_title", "{user}", client="", values={"user": "a\r\nb\x1b[2J"}) == "a  b [2J"


def test_lookup_order() -> None:
    assert messages.lookup_order("de-CH", "vpn1") == [
        ("de-ch", "vpn1"), ("de-ch", ""), ("de", "vpn1"), ("de", ""), ("", "vpn1"), ("", ""),
    ]
    assert messages.lookup_order(None, "") == [("", "")]
    assert messages.lookup_order("zh_Hant_TW", "") == [("zh-hant-tw", ""), ("zh-hant", ""), ("zh", ""), ("", "")]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),  # MPEG-1 Layer III frame header
        (b"\xff\xf3\x14\xc4", "audio/mpeg"),  # MPEG-2 Layer III
    ],
)
def test_audio_type_from_magic_bytes(data: bytes, content_type: str) -> None:
    assert messages.audio_type(data, "greeting") == content_type


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "greeting.wav is not a WAV or MP3 file"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "is not a WAV or MP3 file"),
        (b"OggS\x00\x02", "is not a WAV or MP3 file"),
        (b"\xff\xd8\xff\xe0JFIF", "is not a WAV or MP3 file"),  # a JPEG also starts with 0xFF
        (b"\xff\xf0\x00", "is not a WAV or MP3 file"),  # sync, but the reserved layer 00
        (b"ID3" + bytes(5 * 1024 * 1024), "greeting.wav is 5.0 MB; a voice message may be at most 5 MB"),
    ],
)
def test_audio_type_refuses(data: bytes, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        messages.audio_type(data, "greeting.wav")


def test_spoken_keys_and_app_name() -> None:
    assert messages.spoken_keys("0#") == "zero, then pound" == messages.DEFAULT_VALUES["fraud_code"]
    assert messages.spoken_keys("12*#") == "one, two, star, then pound"
    assert messages.spoken_keys("#") == "pound"
    assert messages.app_name(ClientPolicy(name="vpn1", app_name="Corp VPN"), "vpn-1") == "Corp VPN"
    assert messages.app_name(ClientPolicy(name="vpn1"), "vpn-1") == "vpn-1"
    assert messages.app_name(None, "vpn-1") == "vpn-1"
