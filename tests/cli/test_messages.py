"""`radmfa message …` against a real SQLite store: add, list, show, preview,
delete, every change in the admin log, and failures that change nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from radmfa.core.admin_model import AdminEvent
from radmfa.core.admin_ports import Store
from radmfa.core.model import CustomMessage
from tests.cli.conftest import Radmfa, assert_one_line_error

CLIENTS = """\
client vpn-concentrator-1 {
    ipaddr = 192.0.2.10
    secret = "testing123-change-me"
    shortname = vpn1
}
"""
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)


@pytest.fixture(autouse=True)
def clients_conf(config_path: Path) -> None:
    (config_path.parent / "clients.conf").write_text(CLIENTS)
    with config_path.open("a") as f:
        f.write('\n[clients.vpn1]\napp_name = "Corp VPN"\n')


def stored(radmfa: Radmfa) -> list[CustomMessage]:
    async def work(store: Store) -> list[CustomMessage]:
        return await store.list_messages()

    return radmfa.store(work)


def admin_events(radmfa: Radmfa) -> list[AdminEvent]:
    async def work(store: Store) -> list[AdminEvent]:
        return await store.query_admin_events()

    return radmfa.store(work)


def test_add_text_list_show_preview_delete(radmfa: Radmfa) -> None:
    added = radmfa("message", "add", "sms", "--language", "de", "--client", "vpn1",
                   "--text", "Ihr {app}-Code: {code}")
    assert added.status == 0, added.err
    assert added.out.startswith("added message 1: sms language=de client=vpn-concentrator-1")
    [message] = stored(radmfa)
    assert (message.language, message.client, message.text) == ("de", "vpn-concentrator-1", "Ihr {app}-Code: {code}")

    listed = radmfa("message", "list")
    header, _, row = listed.out.splitlines()
    assert header.split() == ["id", "kind", "language", "client", "content", "added"]
    assert row.split()[:5] == ["1", "sms", "de", "vpn-concentrator-1", "Ihr"]
    rows = list(csv.reader(io.StringIO(radmfa("message", "list", "--format", "csv").out)))
    assert rows[1][4] == "Ihr {app}-Code: {code}"
    long_body = "Hallo,\n\n" + "x" * 80 + " {code}\n"
    radmfa("message", "add", "email_body", "--text", long_body)
    table = radmfa("message", "list", "--kind", "email_body").out.splitlines()[2]
    assert "Hallo, xxxxxxxxxx" in table and "x... " in table
    rows = list(csv.reader(io.StringIO(radmfa("message", "list", "--kind", "email_body", "--format", "csv").out)))
    assert rows[1][4] == long_body.replace("\n", "\\n")  # whole, control characters escaped (cli.output)
    radmfa("message", "delete", rows[1][0])

    shown = radmfa("message", "show", "1")
    assert shown.status == 0 and "language:  de" in shown.out and "Ihr {app}-Code: {code}" in shown.out

    preview = radmfa("message", "preview", "sms", "--language", "de-AT", "--client", "vpn-concentrator-1")
    assert preview.out.strip() == "Ihr Corp VPN-Code: 123456"
    builtin = radmfa("message", "preview", "sms", "--language", "fr", "--client", "vpn1")
    assert builtin.out.strip() == "Your Corp VPN sign-in code is 123456. Valid 5 minutes. Do not share it."

    deleted = radmfa("message", "delete", "1")
    assert deleted.status == 0 and "deleted message 1" in deleted.out
    assert stored(radmfa) == []
    assert radmfa("message", "list").out.strip() == "no custom messages: the built-in texts apply"

    events = [(e.action, e.target) for e in admin_events(radmfa)]
    assert events == [
        ("message.add", "sms language=de client=vpn-concentrator-1"),
        ("message.add", "email_body language=default client=any"),
        ("message.delete", "email_body language=default client=any"),
        ("message.delete", "sms language=de client=vpn-concentrator-1"),
    ]
    assert "Ihr {app}-Code: {code}" in admin_events(radmfa)[0].detail


def test_preview_uses_the_users_language(radmfa: Radmfa) -> None:
    radmfa("user", "add", "bob", "--language", "de-CH")
    radmfa("message", "add", "push_text", "--language", "de", "--text", "Anmeldung bei {app} als {user}?")
    assert radmfa("message", "preview", "push_text", "--user", "bob", "--client", "vpn1").out.strip() == (
        "Anmeldung bei Corp VPN als bob?"
    )
    assert radmfa("message", "preview", "push_text").out.strip() == (
        "Are you signing in to radmfa as alice? Approve only if it is you."
    )
    assert radmfa("message", "preview", "push_text", "--user", "nobody").err == "radmfa: error: no such user: nobody\n"


def test_add_recording_and_preview_plays_it(radmfa: Radmfa, tmp_path: Path) -> None:
    wav = tmp_path / "greeting.wav"
    wav.write_bytes(WAV)
    added = radmfa("message", "add", "voice_greeting", "--language", "en", "--file", str(wav))
    assert added.status == 0, added.err
    assert "recording audio/wav, 80 bytes" in added.out
    assert radmfa("message", "preview", "voice_greeting", "--language", "en").out.strip() == (
        "plays the recording of message 1"
    )
    assert "recording audio/wav, 80 bytes" in radmfa("message", "show", "1").out

    async def work(store: Store) -> tuple[bytes, str] | None:
        return await store.voice_file(1)

    assert radmfa.store(work) == (WAV, "audio/wav")


def test_replace(radmfa: Radmfa) -> None:
    radmfa("message", "add", "challenge_code", "--text", "Code:")
    again = radmfa("message", "add", "challenge_code", "--text", "Your code:")
    line = assert_one_line_error(again)
    assert "a challenge_code message for the default language and every client already exists" in line
    replaced = radmfa("message", "add", "challenge_code", "--text", "Your code:", "--replace")
    assert replaced.status == 0, replaced.err
    assert [m.text for m in stored(radmfa)] == ["Your code:"]
    assert [e.action for e in admin_events(radmfa)] == ["message.add", "message.replace"]


def test_text_from_stdin_and_long_sms_note(radmfa: Radmfa) -> None:
    result = radmfa("message", "add", "sms", "--text", "-", stdin="Code {code}. " + "x" * 200 + "\n")
    assert result.status == 0, result.err
    assert "takes 2 SMS segments" in result.err
    assert stored(radmfa)[0].text == "Code {code}. " + "x" * 200


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["sms", "--text", "Code {pin}"], 1, "unknown placeholder {pin} in the sms message"),
        (["sms", "--text", "{code.__class__}"], 1, "unknown placeholder {code.__class__}"),
        (["letter", "--text", "hi"], 2, "'letter' is not a message kind"),
        (["sms", "--language", "german!", "--text", "{code}"], 2, "is not a language tag"),
        (["sms", "--client", "vpn9", "--text", "{code}"], 1, 'no client "vpn9"'),
        (["sms", "--file", "x.wav"], 2, "--file is for voice_greeting and voice_prompt only"),
        (["voice_prompt", "--file", "missing.wav"], 1, "cannot read missing.wav"),
        (["sms"], 2, "one of the arguments --text --file is required"),
    ],
)
def test_add_refusals_change_nothing(radmfa: Radmfa, argv: list[str], status: int, message: str) -> None:
    line = assert_one_line_error(radmfa("message", "add", *argv), status)
    assert message in line
    assert stored(radmfa) == [] and admin_events(radmfa) == []


def test_bad_recordings_are_refused(radmfa: Radmfa, tmp_path: Path) -> None:
    ogg = tmp_path / "greeting.ogg"
    ogg.write_bytes(b"OggS" + bytes(100))
    line = assert_one_line_error(radmfa("message", "add", "voice_greeting", "--file", str(ogg)))
    assert line.endswith("greeting.ogg is not a WAV or MP3 file (its first bytes say otherwise)")
    big = tmp_path / "long.mp3"
    big.write_bytes(b"ID3" + bytes(6 * 1024 * 1024))
    line = assert_one_line_error(radmfa("message", "add", "voice_greeting", "--file", str(big)))
    assert "long.mp3 is 6.0 MB; a voice message may be at most 5 MB" in line
    assert stored(radmfa) == []


def test_show_and_delete_missing(radmfa: Radmfa) -> None:
    assert "no custom message 7" in assert_one_line_error(radmfa("message", "show", "7"))
    assert "no custom message 7" in assert_one_line_error(radmfa("message", "delete", "7"))
    assert admin_events(radmfa) == []
