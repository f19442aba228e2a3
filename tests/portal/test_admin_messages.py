"""The management portal's messages page in a real browser: an admin
uploads a recording (refused when it is not WAV or MP3 by its content, or
over 5 MB), plays it in the page, previews texts per language, and the
recording is what the fake Twilio fetches and plays on a sign-in call;
a helpdesk user has no messages page."""

from __future__ import annotations

import io
import re
import wave

import pytest

from tests.integration.phone_env import login
from tests.portal.browser import Shots, new_page
from tests.portal.flows import submit
from tests.portal.test_admin import admin_sign_in, csrf_of, events, post
from tests.portal.test_admin_sends import phone_stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def wav_bytes(seconds: float = 0.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(2 * int(8000 * seconds)))
    return out.getvalue()


def upload(page, name: str, data: bytes, kind: str = "voice_greeting") -> None:  # noqa: ANN001
    page.select_option("#u-kind", kind)
    page.set_input_files("#u-file", files=[{"name": name, "mimeType": "audio/wav", "buffer": data}])
    submit(page, "Upload")


def test_admin_uploads_plays_previews_and_the_call_plays_it(phone_stack, chromium, radclient,  # noqa: ANN001, F811
                                                            request) -> None:
    server, portal, seeds, peers = phone_stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "ann", seeds["ann"])
    page.get_by_role("link", name="Messages").click()
    assert "built-in texts apply" in page.locator("main").inner_text()
    shots.step("messages-empty")
    upload(page, "notes.wav", b"this is text, not sound\n" * 10)
    assert "not a WAV or MP3" in page.locator(".alert").inner_text()  # the content decides, not the name
    big = wav_bytes()[:44] + bytes(5 * 1024 * 1024)
    upload(page, "long.wav", big)
    assert "at most 5 MB" in page.locator(".alert").inner_text()
    upload(page, "longer.wav", big + bytes(1024 * 1024))  # refused by its length, before reading
    assert "at most 5 MB" in page.locator(".alert").inner_text()
    assert page.locator("audio").count() == 0
    recording = wav_bytes()
    upload(page, "hello.wav", recording)
    assert "is saved" in page.locator(".notice").inner_text()
    audio = page.locator("table audio")
    assert audio.count() == 1
    duration = audio.evaluate("""a => new Promise(done => {
        a.onloadedmetadata = () => done(a.duration); a.onerror = () => done(-1); a.preload = 'auto'; a.load(); })""")
    assert abs(duration - 0.5) < 0.05  # the browser played it: the portal served it as audio/wav
    served = page.context.request.get(portal.url + audio.get_attribute("src"))
    assert served.headers["content-type"] == "audio/wav" and served.body() == recording
    shots.step("messages-recording")
    page.select_option("#t-kind", "sms")
    page.fill("#t-language", "de")
    page.fill("#t-text", "Ihr {app}-Code lautet {nope}")
    submit(page, "Add text")
    assert "{nope}" in page.locator(".alert").inner_text()
    page.fill("#t-text", "Ihr {app}-Code: {code} <b>")
    submit(page, "Add text")
    assert "is saved" in page.locator(".notice").inner_text()
    page.select_option("#p-kind", "sms")
    page.fill("#p-language", "de-CH")
    submit(page, "Show preview")
    assert page.locator("#preview-text").inner_text() == "Ihr radmfa-Code: 123456 <b>"  # escaped, as typed
    page.select_option("#p-kind", "voice_greeting")
    page.fill("#p-language", "")
    submit(page, "Show preview")
    assert "Plays the recording" in page.locator(".preview").inner_text()
    shots.step("messages-preview")
    assert any(e[0] == "ann" and e[1] == "message.add" for e in events(server))

    peers.twilio.answer = "#"
    first = login(radclient, server, "alice", "alice-pw")
    assert login(radclient, server, "alice", "2", state=first.get("State")).code == "Access-Accept"
    call = peers.twilio.calls[-1]
    assert re.search(r"<Play>[^<]+/voice/\d+\?t=", call.steps[0][2])
    assert [(status, kind, size) for _url, status, kind, size in call.played] == [(200, "audio/wav", len(recording))]

    page.goto(portal.url + "/messages")
    for _ in range(2):
        page.locator("table button.danger").first.click()
        page.wait_for_load_state()
    assert "built-in texts apply" in page.locator("main").inner_text()


def test_helpdesk_has_no_messages_page(phone_stack, chromium) -> None:  # noqa: ANN001, F811
    server, portal, seeds, _peers = phone_stack
    page = new_page(chromium, phone=False)
    admin_sign_in(page, portal, None, "hal", seeds["hal"])
    assert page.get_by_role("link", name="Messages").count() == 0
    assert page.goto(portal.url + "/messages").status == 403
    page.goto(portal.url + "/")
    assert post(page, portal, "/messages", {"csrf": csrf_of(page), "kind": "sms", "text": "x {code}"}) == 403
    assert not [e for e in events(server) if e[1].startswith("message.")]
