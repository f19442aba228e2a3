"""Contract: custom messages and recordings (both backends), and the lookup
order of messages.render / voice_file_url over a real store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from radmfa.core import messages
from radmfa.core.admin_ports import Store
from radmfa.core.model import CustomMessage
from radmfa.errors import AlreadyExists

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200)
VALUES = {"code": "424242", "user": "alice", "app": "Corp VPN"}


async def add(store: Store, kind: str, text: str | None = None, *, language: str = "", client: str = "",
              audio: bytes | None = None) -> CustomMessage:
    return await store.add_message(CustomMessage(
        kind, language, client, text=text, audio=audio, audio_type="audio/wav" if audio else None,
    ))


async def test_add_list_get_delete(store: Store) -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    first = await store.add_message(CustomMessage("sms", "de", "vpn1", text="Code {code}", created_at=when))
    second = await add(store, "voice_greeting", language="", audio=WAV)
    assert first.id is not None and second.id is not None and first.id != second.id
    assert first.text == "Code {code}" and first.audio_type is None and first.created_at == when
    assert second.text is None and second.audio is None  # listings never carry the recording
    assert second.audio_type == "audio/wav" and second.audio_size == len(WAV)

    assert [m.kind for m in await store.list_messages()] == ["sms", "voice_greeting"]
    assert await store.list_messages("sms") == [first]
    assert await store.get_message(first.id) == first
    assert await store.get_message(second.id + 100) is None

    assert await store.delete_message(first.id)
    assert not await store.delete_message(first.id)
    assert await store.list_messages("sms") == []


async def test_text_or_audio_and_lower_case_language(store: Store) -> None:
    stored = await store.add_message(CustomMessage("sms", "de-CH", "", text="{code}"))
    assert stored.language == "de-ch"
    for bad in (
        CustomMessage("voice_greeting", text="Hi", audio=WAV, audio_type="audio/wav"),
        CustomMessage("voice_greeting"),
        CustomMessage("voice_greeting", audio=WAV),
    ):
        with pytest.raises(ValueError, match="either text, or audio with its audio_type"):
            await store.add_message(bad)
    assert len(await store.list_messages()) == 1


async def test_same_slot_twice_is_already_exists_unless_replace(store: Store) -> None:
    first = await add(store, "sms", "One {code}", language="en")
    with pytest.raises(AlreadyExists, match="already exists"):
        await add(store, "sms", "Two {code}", language="en")
    assert [m.text for m in await store.list_messages()] == ["One {code}"]
    # The same kind for another language or client is another slot.
    await add(store, "sms", "Deux {code}", language="fr")
    await add(store, "sms", "Drei {code}", language="en", client="vpn1")

    replaced = await store.add_message(CustomMessage("sms", "en", "", text="Three {code}"), replace=True)
    assert replaced.id == first.id and replaced.text == "Three {code}"
    texts = sorted(m.text or "" for m in await store.list_messages())
    assert texts == ["Deux {code}", "Drei {code}", "Three {code}"]


async def test_replace_text_with_recording_and_back(store: Store) -> None:
    text = await add(store, "voice_prompt", "Press pound", language="en")
    audio = await store.add_message(
        CustomMessage("voice_prompt", "en", "", audio=WAV, audio_type="audio/wav"), replace=True
    )
    assert audio.id == text.id and audio.text is None and audio.audio_size == len(WAV)
    assert await store.voice_file(text.id or 0) == (WAV, "audio/wav")
    again = await store.add_message(CustomMessage("voice_prompt", "en", "", text="Press pound"), replace=True)
    assert again.audio_type is None and again.audio_size == 0
    assert await store.voice_file(text.id or 0) is None


async def test_find_messages_filters_by_kind_language_client(store: Store) -> None:
    await add(store, "sms", "a {code}", language="de", client="vpn1")
    await add(store, "sms", "b {code}", language="de")
    await add(store, "sms", "c {code}", language="fr")
    await add(store, "push_text", "d", language="de")
    found = await store.find_messages("sms", ["de", ""], ["vpn1", ""])
    assert sorted(m.text or "" for m in found) == ["a {code}", "b {code}"]
    assert await store.find_messages("sms", [], [""]) == []


async def test_a_five_megabyte_recording_round_trips(store: Store) -> None:
    big = b"ID3" + bytes(range(256)) * (messages.MAX_VOICE_BYTES // 256 - 1)
    stored = await store.add_message(CustomMessage("voice_greeting", audio=big, audio_type="audio/mpeg"))
    assert await store.voice_file(stored.id or 0) == (big, "audio/mpeg")
    assert await messages.voice_file(store, stored.id or 0) == (big, "audio/mpeg")
    assert await messages.voice_file(store, (stored.id or 0) + 1) is None


# -- lookup order, through the real store ------------------------------------------


async def test_render_without_custom_messages_is_the_builtin_text(store: Store) -> None:
    text = await messages.render(store, "sms", language="de", client="vpn1", values=VALUES)
    assert text == "Your Corp VPN sign-in code is 424242. Valid 5 minutes. Do not share it."


async def test_render_picks_the_most_specific_message(store: Store) -> None:
    async def sms(language: str | None, client: str = "vpn1") -> str:
        return await messages.render(store, "sms", language=language, client=client, values=VALUES)

    await add(store, "sms", "default-any {code}")
    assert await sms("de-CH") == "default-any 424242"
    await add(store, "sms", "default-vpn1 {code}", client="vpn1")
    assert await sms("de-CH") == "default-vpn1 424242"
    assert await sms("de-CH", client="vpn2") == "default-any 424242"
    await add(store, "sms", "de-any {code}", language="de")
    assert await sms("de-CH") == "de-any 424242"  # the primary subtag beats the default set
    await add(store, "sms", "de-vpn1 {code}", language="de", client="vpn1")
    assert await sms("de-CH") == "de-vpn1 424242"
    await add(store, "sms", "dech-any {code}", language="de-ch")
    assert await sms("de-CH") == "dech-any 424242"  # language before client
    await add(store, "sms", "dech-vpn1 {code}", language="de-ch", client="vpn1")
    assert await sms("DE_ch") == "dech-vpn1 424242"
    assert await sms("fr") == "default-vpn1 424242"
    assert await sms(None, client="") == "default-any 424242"


async def test_render_skips_recordings_and_voice_url_takes_the_most_specific(store: Store) -> None:
    await add(store, "voice_greeting", "Default greeting for {app}.")
    recording = await add(store, "voice_greeting", language="en", audio=WAV)

    said = await messages.render(store, "voice_greeting", language="en", client="vpn1", values=VALUES)
    assert said == "Default greeting for Corp VPN."  # a recording has no text to say
    url = await messages.voice_file_url(
        store, "voice_greeting", language="en-GB", client="vpn1", public_url="https://mfa.example.com/"
    )
    assert url == f"https://mfa.example.com/voice/{recording.id}"
    assert await messages.voice_file(store, recording.id or 0) == (WAV, "audio/wav")

    # A more specific text wins over a less specific recording: <Say> it.
    await add(store, "voice_greeting", "English for {app}.", language="en", client="vpn1")
    assert await messages.voice_file_url(
        store, "voice_greeting", language="en", client="vpn1", public_url="https://mfa.example.com"
    ) is None
    assert await messages.voice_file_url(
        store, "voice_prompt", language="en", client="vpn1", public_url="https://mfa.example.com"
    ) is None
    with pytest.raises(ValueError, match="not a voice message kind"):
        await messages.voice_file_url(store, "sms", language=None, client="", public_url="https://x")


async def test_render_never_raises_on_user_data(store: Store) -> None:
    await add(store, "push_text", "Sign in to {app} as {user}?")
    hostile = {"user": "{code.__class__}\r\nBcc: x@evil.example", "app": "{0}{}"}
    text = await messages.render(store, "push_text", language=None, client="vpn1", values=hostile)
    assert text == "Sign in to {0}{} as {code.__class__}  Bcc: x@evil.example?"
    with pytest.raises(ValueError, match="not a message kind"):
        await messages.render(store, "letter", language=None, client="", values={})
