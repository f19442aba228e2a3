"""The HTTP side (aiohttp, same event loop): /healthz and provider callbacks.

Every callback is authenticated before it can change anything:
* calls (Twilio): X-Twilio-Signature over public_url + path + query and the
  sorted POST parameters (the provider's scheme) AND our signed token in the URL;
* push buttons (ntfy, webhook): our signed, expiring token in the URL;
* inbound texts (Twilio two-way SMS): X-Twilio-Signature.
A session is decided once (store UPDATE … WHERE undecided): a replayed or
late callback finds nothing to change and gets 403, like a forged one.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiohttp import web

from radmfa.config import HttpConfig, PhoneConfig
from radmfa.core import messages, push_guard
from radmfa.core.session import Event
from radmfa.delivery.twilio import valid_signature
from radmfa.factors import callbacks, voice
from radmfa.factors.phone import PLAY, PhoneFactors
from radmfa.service.binding import bind_failure
from radmfa.service.warnings import Throttle

log = structlog.get_logger("radmfa.http")

_PUSH_EVENTS = {"approve": Event.APPROVE, "deny": Event.DENY, "fraud": Event.REPORT_FRAUD}
_VOICE_EVENTS = {"approve": Event.APPROVE, "deny": Event.DENY, "fraud": Event.REPORT_FRAUD}
_CALL_ENDED = {"completed": "hung up", "busy": "busy", "no-answer": "no answer", "failed": "call failed",
               "canceled": "call canceled"}
_TWIML = "text/xml"
WARN_PER_MINUTE = 20  # "callback refused" lines per reason and minute; the rest are counted


class CallbackApp:
    def __init__(
        self, http: HttpConfig, phone_cfg: PhoneConfig, phone: PhoneFactors | None, healthy: Callable[[], bool]
    ) -> None:
        self.http, self.cfg, self.phone, self.healthy = http, phone_cfg, phone, healthy
        self.warnings = Throttle(interval_s=60.0, per_interval=WARN_PER_MINUTE)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_post("/cb/voice/{id}/{action}", self.voice)
        app.router.add_post("/cb/push/{id}/{action}", self.push)
        app.router.add_post("/cb/sms/inbound", self.inbound_sms)
        app.router.add_get("/voice/{id:[0-9]{1,18}}", self.voice_file)  # messages.VOICE_PATH (fits a SQL BIGINT)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        ok = self.healthy()
        return web.Response(status=200 if ok else 503, text="ok\n" if ok else "unhealthy\n")

    # ---- authentication ----

    async def _token_ok(self, request: web.Request, oob_id: str, action: str) -> bool:
        if self.phone is None:
            return False
        key = await self.phone.store.callback_key()
        return callbacks.verify(key, request.query.get("t", ""), oob_id, action, now=datetime.now(UTC))

    def _twilio_ok(self, request: web.Request, form: dict[str, str], method: str) -> bool:
        provider = self.cfg.provider(method)
        if provider is None or provider.type != "twilio":
            return False
        # The URL exactly as Twilio called it: raw_path is the request target
        # as sent (path_qs would be percent-decoded, and the signature is over
        # the encoded form). public_url stands for the proxy's outside address.
        url = self.http.public_url + request.raw_path
        return valid_signature(provider.auth_token, url, form, request.headers.get("X-Twilio-Signature", ""))

    def _forbidden(self, why: str, request: web.Request) -> web.Response:
        """403, logged (path only: the query holds the token) at most
        WARN_PER_MINUTE times a minute per reason, so that anybody who can
        reach the port cannot fill the disk with forged callbacks."""
        self.warnings.warning(log, "callback refused", reason=why, now=time.monotonic(), path=request.path,
                              peer=request.remote)
        return web.Response(status=403, text="forbidden\n")

    # ---- handlers ----

    async def push(self, request: web.Request) -> web.Response:
        oob_id, action = request.match_info["id"], request.match_info["action"]
        number = push_guard.picked(action)  # a number's button (number matching)
        if (action not in _PUSH_EVENTS and number is None) or not await self._token_ok(request, oob_id, action):
            return self._forbidden("bad push token", request)
        assert self.phone is not None
        now = datetime.now(UTC)
        if number is not None:
            decided = await self.phone.decide_number(oob_id, number, now=now)
        else:
            decided = await self.phone.decide(oob_id, _PUSH_EVENTS[action], now=now)
        if decided is None:
            return self._forbidden("push already answered or expired", request)
        return web.Response(text="thank you\n")

    async def voice(self, request: web.Request) -> web.Response:
        oob_id, action = request.match_info["id"], request.match_info["action"]
        form = {k: str(v) for k, v in (await request.post()).items()}
        if action not in ("answer", "gather", "silence", "status") or not await self._token_ok(request, oob_id, action):
            return self._forbidden("bad call token", request)
        if not self._twilio_ok(request, form, "voice"):
            return self._forbidden("bad X-Twilio-Signature (is [http] public_url what Twilio calls?)", request)
        assert self.phone is not None
        now = datetime.now(UTC)
        if action == "status":  # the call ended: deny if nobody decided (idempotent)
            ended = _CALL_ENDED.get(form.get("CallStatus", ""))
            if ended is not None:
                await self.phone.decide(oob_id, Event.DENY, now=now, detail=ended)
            return web.Response(status=204)
        held = await self.phone.store.get_oob(oob_id)
        if held is None or held.phase.value != "awaiting_approval":
            return self._forbidden("call already answered or expired", request)
        user = await self.phone.store.get_user(held.username)
        language = user.language if user else None
        if action == "answer":
            key = await self.phone.store.callback_key()
            twiml = voice.prompt(
                await self.phone.voice_texts(held, language=language),
                gather_url=self.phone.callback_url(held, key, "gather"),
                silence_url=self.phone.callback_url(held, key, "silence"),
                fraud_code=self.cfg.fraud_code,
            )
            return web.Response(text=twiml, content_type=_TWIML)
        verdict = voice.verdict(form.get("Digits", ""), self.cfg.fraud_code) if action == "gather" else "deny"
        detail = "no key pressed" if action == "silence" else ("wrong key" if verdict == "deny" else "")
        decided = await self.phone.decide(oob_id, _VOICE_EVENTS[verdict], now=now, detail=detail)
        if decided is None:
            return self._forbidden("call already answered or expired", request)
        kind = "voice_approved" if verdict == "approve" else "voice_denied"
        said = await self.phone.text(kind, held.client, user=held.username, language=language)
        return web.Response(text=voice.goodbye(said), content_type=_TWIML)

    async def voice_file(self, request: web.Request) -> web.Response:
        """A custom recording for <Play> (radmfa message add … --file), for
        the voice provider during a call: the URL in the TwiML carries a
        token for this path (phone.PLAY), so ids cannot be walked from outside."""
        if self.phone is None:
            return web.Response(status=404)
        key = await self.phone.store.callback_key()
        if not callbacks.verify(key, request.query.get("t", ""), request.path, PLAY, now=datetime.now(UTC)):
            return self._forbidden("bad recording token", request)
        found = await messages.voice_file(self.phone.store, int(request.match_info["id"]))
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    async def inbound_sms(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        if self.phone is None or not self.cfg.two_way_sms or not self._twilio_ok(request, form, "sms"):
            return self._forbidden("bad X-Twilio-Signature (is [http] public_url what Twilio calls?)", request)
        await self.phone.inbound_sms(form.get("From", ""), form.get("Body", ""), now=datetime.now(UTC))
        # Twilio wants TwiML back; an empty Response sends no reply text.
        return web.Response(text='<?xml version="1.0" encoding="UTF-8"?><Response/>', content_type=_TWIML)


async def start_http(app: web.Application, listen: tuple[tuple[str, int], ...], *, reuse_port: bool) -> web.AppRunner:
    """Serve on every [http] listen address. With [radius] workers = N every
    worker serves HTTP too (SO_REUSEPORT): sessions live in the store, so it
    does not matter which process a callback reaches."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for host, port in listen:
        try:
            await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        except OSError as exc:
            await runner.cleanup()
            raise bind_failure(exc, host, port, kind=socket.SOCK_STREAM, reuse_port=reuse_port) from None
    return runner
