"""A fake Twilio: the REST paths and auth of the real API, and a phone.

* POST /2010-04-01/Accounts/{Sid}/Messages.json and Calls.json, form-encoded,
  HTTP basic auth Sid:AuthToken (else 401), answered 201 with JSON.
* A "call" fetches the Url radmfa gave (TwiML) and each <Play> recording in
  it (``played``); a TwiML without <Gather> ends the call; else it finds the <Gather> action,
  and posts the digits the test chose as <Gather> would collect them
  (``gathered``: finishOnKey, numDigits), signed with X-Twilio-Signature as
  Twilio does; silence, or only the finish key, follows the <Redirect>; "hangup" posts the status
  callback with CallStatus=completed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

from tests.fakes.server import ThreadedApp

SID = "AC" + "0" * 32
TOKEN = "fake-twilio-auth-token"
NUMBER = "+15005550006"


def gathered(attrib: dict[str, str], keys: str) -> str | None:
    """What <Gather> posts as Digits when the caller presses ``keys`` (then
    waits), or None when it posts nothing (TwiML reference, <Gather>): keys
    stop at finishOnKey (default "#"; not included) or once numDigits are in;
    "If the caller enters the finishOnKey value before entering any other
    digits, Twilio will not make a request to the action URL but instead
    continue processing the current TwiML document with the verb immediately
    following the <Gather>." Likewise when nothing was pressed."""
    finish = attrib.get("finishOnKey", "#")
    limit = int(attrib.get("numDigits", "0") or 0)
    digits = ""
    for key in keys:
        if finish and key in finish:
            break
        digits += key
        if limit and len(digits) >= limit:
            break
    return digits or None


def signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's scheme, written here independently of radmfa's."""
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


@dataclass
class Call:
    sid: str
    to: str
    url: str
    status_callback: str
    steps: list[tuple[str, int, str]] = field(default_factory=list)  # (what, HTTP status, body)
    played: list[tuple[str, int, str, int]] = field(default_factory=list)  # <Play>: (URL, status, type, bytes)


class FakeTwilio(ThreadedApp):
    def __init__(self, *, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, str]] = []
        self.calls: list[Call] = []
        self.answer: str | None = None  # what the phone does: "#", "0#", "1#", "silence", "hangup", None (rings out)
        self.answer_delay_s = 0.3

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._messages)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self._calls)
        return app

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{SID}:{self.token}".encode()).decode()
        return request.match_info["sid"] == SID and request.headers.get("Authorization") == expected

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.messages.append(form)
        return web.json_response({"sid": "SM" + secrets.token_hex(16), "status": "queued"}, status=201)

    async def _calls(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = {k: str(v) for k, v in (await request.post()).items()}
        call = Call("CA" + secrets.token_hex(16), form["To"], form["Url"], form.get("StatusCallback", ""))
        self.calls.append(call)
        if self.answer is not None:
            answer = self.answer
            self.later(self.answer_delay_s, lambda: self.play(call, answer))
        return web.json_response({"sid": call.sid, "status": "queued"}, status=201)

    # ---- the phone ----

    async def post(self, call: Call, url: str, params: dict[str, str], *, sign: bool = True) -> tuple[int, str]:
        form = {"AccountSid": SID, "CallSid": call.sid, "To": call.to, "From": NUMBER, **params}
        headers = {"X-Twilio-Signature": signature(self.token, url, form)} if sign else {}
        async with aiohttp.ClientSession() as http, http.post(url, data=form, headers=headers) as resp:
            body = await resp.text()
        call.steps.append((url, resp.status, body))
        return resp.status, body

    async def fetch(self, call: Call, url: str) -> None:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            body = await resp.read()
        call.played.append((url, resp.status, resp.headers.get("Content-Type", ""), len(body)))

    async def play(self, call: Call, answer: str) -> None:
        if answer == "hangup":
            await self.post(call, call.status_callback, {"CallStatus": "completed"})
            return
        status, twiml = await self.post(call, call.url, {"CallStatus": "in-progress"})
        if status != 200:
            return
        root = ET.fromstring(twiml)  # noqa: S314 - our own test server's TwiML
        for play in root.iter("Play"):  # Twilio fetches each recording to play it
            assert play.text, twiml
            await self.fetch(call, play.text)
        gather = root.find("Gather")
        if gather is None:  # a message, then <Hangup/>: the call ends
            assert root.find("Hangup") is not None, twiml
            await self.post(call, call.status_callback, {"CallStatus": "completed"})
            return
        digits = None if answer == "silence" else gathered(gather.attrib, answer)
        if digits is None:  # nothing to submit: Twilio goes on with the verb after <Gather>
            redirect = root.find("Redirect")
            assert redirect is not None and redirect.text
            await self.post(call, redirect.text, {"CallStatus": "in-progress"})
        else:
            await self.post(call, gather.attrib["action"], {"Digits": digits, "CallStatus": "in-progress"})
        await self.post(call, call.status_callback, {"CallStatus": "completed"})

    def text_back(self, url: str, sender: str, body: str, *, token: str | None = None) -> tuple[int, str]:
        """The user replies to a text (two-way SMS): Twilio posts it to radmfa."""
        form = {"AccountSid": SID, "MessageSid": "SM" + secrets.token_hex(16), "From": sender, "To": NUMBER,
                "Body": body}

        async def go() -> tuple[int, str]:
            headers = {"X-Twilio-Signature": signature(token or self.token, url, form)}
            # Sent byte for byte as configured (encoded=True: no requoting), as Twilio does.
            target = URL(url, encoded=True)
            async with aiohttp.ClientSession() as http, http.post(target, data=form, headers=headers) as resp:
                return resp.status, await resp.text()

        return self.run(go())

    def replay(self, url: str, params: dict[str, str], *, sign_with: str | None = None) -> int:
        """POST ``params`` to ``url`` as Twilio would (or with a wrong token)."""

        async def go() -> int:
            headers = {"X-Twilio-Signature": signature(sign_with or self.token, url, params)}
            async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=headers) as resp:
                return resp.status

        return self.run(go())

