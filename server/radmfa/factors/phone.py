"""Phone, push and e-mail factors: send a code, or hold the request while
the phone rings and wait for the callback's decision in the store.

Custom messages and abuse limits come in here and only here: every text is
composed by ``text`` (core.texts → core.messages), and
``limits.check_send`` runs right before a code, call or push goes out.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog

from radmfa.config import Config, FraudConfig, LimitsConfig, PhoneConfig
from radmfa.core import fraud, limits, messages, methods, push_guard, session, texts
from radmfa.core.methods import Option
from radmfa.core.model import AuthRequest, FraudReport, OobSession, Phase, PhoneOutcome, User
from radmfa.core.policy import name_key
from radmfa.core.ports import Deadline, LoginStore
from radmfa.delivery import Senders
from radmfa.errors import DeliveryError
from radmfa.factors import callbacks

log = structlog.get_logger("radmfa.phone")

POLL_INTERVAL_S = 0.2  # a decision reaches the held request within this (plus one store read)
_SENT = b"sent"  # hash scope of codes sent for a challenge (the row is keyed by State)
TEST_CALL = "test-call"  # the token's id for a test call's callbacks
TEST_CALL_TTL_S = 300
TEST_TEXT = "This is a test message from {app}. You do not need to do anything."
PLAY = "play"  # the token action of a recording's URL (service/http.py checks it)
_REASONS = {session.Event.APPROVE: "approved", session.Event.DENY: "denied", session.Event.REPORT_FRAUD: "fraud"}


class PhoneFactors:
    """The core's Phone port (core/ports.py), and the provider callbacks' side."""

    def __init__(
        self,
        store: LoginStore,
        senders: Senders,
        cfg: PhoneConfig,
        fraud_cfg: FraudConfig,
        *,
        public_url: str,
        limits_cfg: LimitsConfig | None = None,
        app_name: Callable[[str], str] = str,
        notify: fraud.Notifier | None = None,
    ) -> None:
        """``app_name``: client name → {app} ([clients.<name>] app_name, as
        reloaded on SIGHUP); ``notify`` tells the security team about a fraud report."""
        self.store, self.senders, self.cfg, self.fraud_cfg = store, senders, cfg, fraud_cfg
        self.limits = limits_cfg or LimitsConfig()
        self.public_url = public_url
        self.methods = senders.methods()
        self.app_name, self.notify = app_name, notify
        self._watchers: set[asyncio.Task[None]] = set()

    def use_config(self, config: Config) -> None:
        """The store's settings changed (service/live_settings.py): the fraud code and [fraud]."""
        self.cfg, self.fraud_cfg = config.phone, config.fraud

    @property
    def two_way_sms(self) -> bool:
        return self.cfg.two_way_sms

    @property
    def code_ttl_s(self) -> int:
        return self.cfg.otp_ttl_s

    def topic(self, user: User, key: bytes | None = None) -> str:
        """The user's push topic; without ``key`` as shown and recorded
        ({secret} masked), with the callback key as it is published to."""
        push = self.cfg.provider("push")
        if push is None:
            return ""
        return callbacks.push_topic(push.topic, name_key(user.name), key, ntfy=push.type == "ntfy")

    def options(self, user: User) -> list[Option]:
        return methods.options(user, methods=self.methods, push_topic=self.topic(user))

    async def text(self, kind: str, client: str, *, user: str, language: str | None, **values: str) -> str:
        """Every text composed for a user goes through here (texts.render)."""
        app = self.app_name(client)
        return await texts.render(
            self.store, kind, language=language, client=client, app=app, values={"user": user, **values}
        )

    async def _text(self, kind: str, user: User, client: str, **values: str) -> str:
        return await self.text(kind, client, user=user.name, language=user.language, **values)

    async def _refused(self, user: User, method: str, *, now: datetime) -> PhoneOutcome | None:
        """The abuse limits ([limits]), right before anything goes out."""
        refusal = await limits.check_send(self.store, self.limits, user=user.name, method=method, now=now, log=log)
        return None if refusal is None else PhoneOutcome(False, refusal.reason, refusal.message)

    async def voice_texts(self, held: OobSession, *, language: str | None) -> list[tuple[str, bool]]:
        """The call's greeting and prompt: (recording URL, True) or (text, False)."""
        out = []
        for kind in ("voice_greeting", "voice_prompt"):
            url = await messages.voice_file_url(
                self.store, kind, language=language, client=held.client, public_url=self.public_url
            )
            if url is not None:
                out.append((await self._signed_play_url(url, held), True))
                continue
            spoken = messages.spoken_keys(self.cfg.fraud_code)
            text = await self.text(kind, held.client, user=held.username, language=language, fraud_code=spoken)
            out.append((text, False))
        return out

    async def _signed_play_url(self, url: str, held: OobSession) -> str:
        """A recording is served only with a token for its path, valid while
        this call may run: /voice/<id> counts up, so without one anybody
        could download every recording (up to 5 MB each) from outside."""
        key = await self.store.callback_key()
        token = callbacks.sign(key, urlsplit(url).path, PLAY, expires_at=held.expires_at + timedelta(seconds=60))
        return f"{url}?t={token}"

    async def menu(self, user: User, client: str, *, has_code: bool) -> tuple[str, dict[str, Option]]:
        available = self.options(user)
        labels = {o: await self._text(f"menu_{o.method}", user, client, to=o.shown) for o in available}
        # The wrapper is rendered with a marker for {menu}, so a custom menu
        # text is fetched once and the options are fitted into what is left.
        marker = "\x00menu\x00"
        kind = "challenge_menu" if has_code else "challenge_menu_no_code"
        wrapper = await self._text(kind, user, client, menu=marker)
        return methods.menu(available, labels.__getitem__, lambda opts: wrapper.replace(marker, opts))

    def _code(self) -> str:
        return "".join(secrets.choice("0123456789") for _ in range(self.cfg.code_length))

    # ---- codes texted or e-mailed for the next challenge ----

    async def send_code(
        self, user: User, option: Option, *, client: str, state: bytes, now: datetime
    ) -> PhoneOutcome | None:
        """Send a fresh code for the challenge ``state``; None when sent,
        else why not (audit reason and Reply-Message)."""
        refused = await self._refused(user, option.method, now=now)
        if refused is not None:
            return refused
        key = await self.store.callback_key()
        code = self._code()
        minutes = str(max(1, self.cfg.otp_ttl_s // 60))
        await self.store.put_code(
            state, callbacks.code_hash(key, _SENT, code), expires_at=now + timedelta(seconds=self.cfg.otp_ttl_s)
        )
        try:
            if option.method == "email" and self.senders.email is not None:
                subject = await self._text("email_subject", user, client)
                body = await self._text("email_body", user, client, code=code, minutes=minutes)
                await self.senders.email.send_email(option.destination, subject=subject, body=body)
            elif self.senders.sms is not None:
                text = await self._text("sms", user, client, code=code, minutes=minutes)
                await self.senders.sms.send_sms(option.destination, text)
        except DeliveryError as e:
            log.warning("code not delivered", user=user.name, method=option.method, error=str(e))
            return PhoneOutcome(False, "delivery failed", await self._text("delivery_failed", user, client))
        return None

    async def check_code(
        self, state: bytes, code: bytes, *, now: datetime, carry_to: bytes | None = None
    ) -> bool | None:
        """True/False for the code sent for ``state``, taken (single use);
        None when none is pending (expired). A wrong guess leaves the code
        valid under ``carry_to``, the next challenge's State, if given."""
        taken = await self.store.take_code(state, now=now)
        if taken is None:
            return None
        key = await self.store.callback_key()
        text = code.decode("ascii", "replace").strip()
        ok = hmac.compare_digest(callbacks.code_hash(key, _SENT, text), taken[0])
        if not ok and carry_to is not None:
            await self.store.put_code(carry_to, taken[0], expires_at=taken[1])
        return ok

    # ---- out of band: hold the request while the phone rings ----

    async def hold(
        self, user: User, option: Option, request: AuthRequest, *, now: datetime, deadline: Deadline, ip: str = ""
    ) -> PhoneOutcome:
        deadline.extend(self.cfg.oob_timeout_s + 5)  # waits for a person, not for a hung peer
        held, refused = await self.begin(
            user, option, client=request.client, waiter=request.request_id,
            station=request.calling_station_id, now=now, ip=ip,
        )
        if refused is not None:
            return refused
        assert held is not None
        outcome = await self._wait(held, request.request_id, (held.expires_at - now).total_seconds())
        return await self._told(outcome, user, request.client)

    async def _told(self, outcome: PhoneOutcome, user: User, client: str) -> PhoneOutcome:
        """A refused outcome with the Reply-Message that says why."""
        if not outcome.approved and outcome.message is None and outcome.reason != "superseded":
            kind = {"no answer": "oob_timeout", push_guard.WRONG_NUMBER: "push_wrong_number"}.get(
                outcome.reason, "oob_denied"
            )
            return PhoneOutcome(False, outcome.reason, await self._text(kind, user, client))
        return outcome

    # ---- push with number matching: the number in an Access-Challenge first ----

    async def offer_number(
        self, user: User, option: Option, request: AuthRequest, *, waiter: str, now: datetime, ip: str = ""
    ) -> tuple[int | None, PhoneOutcome | None]:
        """Send a push offering three numbers, for the challenge whose State
        is ``waiter``: (the number to show, None), or (None, why not)."""
        held, refused = await self.begin(
            user, option, client=request.client, waiter=waiter, station=request.calling_station_id,
            now=now, ip=ip, match=True,
        )
        if refused is not None:
            return None, refused
        assert held is not None
        return await self.shown_number(held), None

    async def shown_number(self, held: OobSession) -> int:
        """The number to show where the user signs in (an Access-Challenge,
        the portal's page) for a push offered with ``match``: the one of its
        three that approves."""
        return callbacks.match_number(await self.store.callback_key(), held.id)

    async def wait_number(
        self, user: User, client: str, *, waiter: str, now: datetime, deadline: Deadline
    ) -> PhoneOutcome:
        """The challenge's answer: wait for the push offered for ``waiter``."""
        held = await self.store.get_oob_for_waiter(waiter)
        if held is None:
            return PhoneOutcome(False, "superseded", "Replaced by a newer sign-in attempt.")
        deadline.extend(max(0.0, (held.expires_at - now).total_seconds()) + 5)
        outcome = await self._wait(held, waiter, (held.expires_at - now).total_seconds())
        return await self._told(outcome, user, client)

    async def begin(
        self, user: User, option: Option, *, client: str, waiter: str, station: str, now: datetime,
        ip: str = "", match: bool = False,
    ) -> tuple[OobSession | None, PhoneOutcome | None]:
        """Open (or join) the call, push or two-way text ``option`` and start
        it: (the session to wait for, None), or (None, why not). The decision
        arrives in the store through the provider's callback; the RADIUS
        side waits for it holding the request, the portal by polling.
        ``match``: a push offers three numbers (push_guard); ``ip`` is the
        end user's address the push shows."""
        if option.method == "push" and await self._streak_blocked(user, now=now):
            log.warning("push refused: deny streak", user=user.name)
            return None, PhoneOutcome(False, push_guard.STREAK_BLOCKED, await self._text("push_blocked", user, client))
        code = self._code() if option.method == "sms" else None
        oob_id = secrets.token_urlsafe(16)
        key = await self.store.callback_key()
        pending = OobSession(
            id=oob_id,
            username=name_key(user.name),
            client=client,
            method=option.method,
            destination=option.destination,
            waiter=waiter,
            expires_at=now + timedelta(seconds=self.cfg.oob_timeout_s),
            code_hash=callbacks.code_hash(key, oob_id.encode(), code) if code else None,
            calling_station_id=station,
        )
        held, opened = await self.store.hold_oob(pending, now=now)
        if opened:
            refused = await self._refused(user, option.method, now=now)
            if refused is not None:
                await self.store.decide_oob(held.id, Phase.DENIED, refused.reason, now=now)
                return None, refused
            try:
                await self._start(held, user, key, code, ip=ip, now=now, match=match)
            except DeliveryError as e:
                log.warning("out-of-band start failed", user=user.name, method=option.method, error=str(e))
                await self.store.decide_oob(held.id, Phase.DENIED, "delivery failed", now=now)
                return None, PhoneOutcome(False, "delivery failed", await self._text("delivery_failed", user, client))
        elif held.waiter != waiter:
            # Running for a request from another Calling-Station-Id: joining
            # would let this request collect the approval the user gives to
            # the other one (a password holder racing the real user's push).
            log.warning("refused: another sign-in awaits approval", user=user.name, method=held.method)
            message = "Another sign-in is waiting for approval on your phone."
            return None, PhoneOutcome(False, "another sign-in pending", message)
        else:
            log.info("joined a call or push already running", user=user.name, method=held.method)
        if match and opened:
            self._watch(held)
        return held, None

    def callback_url(self, held: OobSession, key: bytes, action: str) -> str:
        token = callbacks.sign(key, held.id, action, expires_at=held.expires_at + timedelta(seconds=60))
        return callbacks.url(self.public_url, f"/cb/{held.method}/{held.id}/{action}", token)

    async def _start(
        self, held: OobSession, user: User, key: bytes, code: str | None, *, ip: str, now: datetime, match: bool
    ) -> None:
        client = held.client
        if held.method == "voice" and self.senders.voice is not None:
            answer, status = self.callback_url(held, key, "answer"), self.callback_url(held, key, "status")
            await self.senders.voice.place_call(held.destination, answer_url=answer, status_url=status)
        elif held.method == "push" and self.senders.push is not None:
            await self._push(held, user, key, ip=ip, now=now, match=match)
        elif held.method == "sms" and code is not None and self.senders.sms is not None:
            await self.senders.sms.send_sms(held.destination, await self._text("sms_two_way", user, client, code=code))
        else:
            raise DeliveryError(f"no provider for {held.method}")

    def test_text(self) -> str:
        return TEST_TEXT.format(app=self.app_name("") or "radmfa")

    async def send_test(self, user: User, method: str, *, now: datetime) -> str:
        """A test text, call, push or e-mail to ``user`` through the configured
        provider, under the same [limits] as a code (the management portal's
        "send a test"): where it went, masked. The call says TEST_TEXT and
        hangs up (service/http.py answers /cb/test/answer). Raises
        DeliveryError when it cannot go out."""
        found = [o for o in self.options(user) if o.method == method]
        if not found:
            raise DeliveryError(f"{user.name} has no {method} destination, or no {method} provider is configured")
        refused = await self._refused(user, method, now=now)
        if refused is not None:
            raise DeliveryError(refused.message or refused.reason)
        option, key = found[0], await self.store.callback_key()
        text = self.test_text()
        if method == "voice" and self.senders.voice is not None:
            expires = now + timedelta(seconds=TEST_CALL_TTL_S)
            answer, status = (callbacks.url(self.public_url, f"/cb/test/{a}", callbacks.sign(key, TEST_CALL, a,
                                                                                            expires_at=expires))
                              for a in ("answer", "status"))
            await self.senders.voice.place_call(option.destination, answer_url=answer, status_url=status)
        elif method == "push" and self.senders.push is not None:
            await self.senders.push.push(self.topic(user, key), title=self.app_name("") or "radmfa", text=text,
                                         actions=())
        elif method == "sms" and self.senders.sms is not None:
            await self.senders.sms.send_sms(option.destination, text)
        elif method == "email" and self.senders.email is not None:
            await self.senders.email.send_email(option.destination, subject=self.app_name("") or "radmfa", body=text)
        else:
            raise DeliveryError(f"no provider for {method}")
        return option.shown or "the push app"

    async def _push(self, held: OobSession, user: User, key: bytes, *, ip: str, now: datetime, match: bool) -> None:
        """The push: the app's question, where and when the sign-in comes
        from, and the buttons: approve / deny / fraud, or with number
        matching three numbers (push_guard). A webhook gets every URL by name."""
        assert self.senders.push is not None
        client = held.client
        shown = push_guard.details(self.app_name(client), ip, now)
        title = await self._text("push_title", user, client)
        lines = [await self._text("push_text", user, client), await self._text("push_details", user, client, **shown)]
        fields = dict(shown)
        fraud_pair = (await self._text("push_fraud", user, client), self.callback_url(held, key, "fraud"))
        deny_pair = (await self._text("push_deny", user, client), self.callback_url(held, key, "deny"))
        if match:
            lines.append(await self._text("push_match_text", user, client))
            numbers = push_guard.offered(callbacks.match_number(key, held.id), secrets.randbelow)
            actions = [(f"{n:02d}", self.callback_url(held, key, push_guard.action(n))) for n in numbers]
            for i, (label, url) in enumerate(actions, 1):
                fields[f"number{i}"], fields[f"number{i}_url"] = label, url
            fields["approve_url"] = ""
        else:
            approve_pair = (await self._text("push_approve", user, client), self.callback_url(held, key, "approve"))
            actions = [approve_pair, deny_pair, fraud_pair]
            fields["approve_url"] = approve_pair[1]
        fields["deny_url"], fields["fraud_url"] = deny_pair[1], fraud_pair[1]
        await self.senders.push.push(
            self.topic(user, key), title=title, text="\n".join(lines), actions=actions, fields=fields
        )

    # ---- the deny streak (push_guard) ----

    async def _streak_blocked(self, user: User, *, now: datetime) -> bool:
        limit = self.limits.push_deny_streak
        if not limit:
            return False
        n = await self.store.push_streak(user.name, now=now, window_s=self.limits.push_deny_window_s, limit=limit)
        return push_guard.blocks(n, limit)

    async def _ended(self, ended: OobSession, *, now: datetime) -> None:
        """Book a push's end on the streak: approved clears it; denied, a
        wrong number or no answer counts, and the refusal that makes the
        streak raises one fraud report (pushes are refused from then on)."""
        limit = self.limits.push_deny_streak
        if ended.method != "push" or not limit:
            return
        if ended.phase is Phase.APPROVED:
            await self.store.clear_push_streak(ended.username)
            return
        if not push_guard.counts(ended.method, ended.reason):
            return
        window = self.limits.push_deny_window_s
        n = await self.store.note_push_refusal(ended.username, now=now, window_s=window, limit=limit)
        if not push_guard.reached(n, limit):
            return
        log.warning("push deny streak: pushes blocked", user=ended.username, count=n)
        report = FraudReport(
            time=now, username=ended.username, source="push", client_name=ended.client,
            calling_station_id=ended.calling_station_id, device=ended.destination,
            note=f"deny streak: {n} pushes denied or unanswered within {window} s; pushes blocked",
        )
        # The report does not block the user: other factors still work.
        settings = replace(self.fraud_cfg, block_user=False)
        await fraud.raise_alert(self.store, settings, report, now=now, log=log, notify=self.notify)

    def close(self) -> None:
        """Stop the expiry watchers (shutdown): an unanswered push then
        expires unseen by this node and does not count."""
        for task in self._watchers:
            task.cancel()

    def _watch(self, held: OobSession) -> None:
        """A push offered with a number may have nobody waiting for it (the
        challenge left unanswered): expire it when due, so it counts."""
        task = asyncio.get_running_loop().create_task(self._expire_when_due(held))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _expire_when_due(self, held: OobSession) -> None:
        await asyncio.sleep(max(0.0, (held.expires_at - datetime.now(held.expires_at.tzinfo)).total_seconds()))
        try:
            await self.expire(held.id, now=datetime.now(held.expires_at.tzinfo))
        except Exception as e:  # noqa: BLE001 (a store outage: the next push counts again)
            log.warning("push expiry not recorded", user=held.username, error=str(e))

    async def expire(self, oob_id: str, *, now: datetime) -> bool:
        """End an unanswered call or push that is due, counting it towards the
        deny streak; False when it was decided or expired already (whoever
        expires it first books it, once)."""
        expired = await self.store.expire_oob(oob_id)
        if expired is None:
            return False
        await self._ended(expired, now=now)
        return True

    async def _wait(self, held: OobSession, waiter: str, seconds: float) -> PhoneOutcome:
        """Poll the store until the session is decided, taken over or due.
        Polling (not LISTEN/NOTIFY) works the same on SQLite and PostgreSQL."""
        deadline = time.monotonic() + seconds
        while True:
            row = await self.store.get_oob(held.id)
            if row is None:
                return PhoneOutcome(False, "no answer")
            if row.waiter != waiter:
                # A newer Access-Request for this user and NAS took it over;
                # checked first, so one approval never accepts two requests.
                return PhoneOutcome(False, "superseded", "Replaced by a newer sign-in attempt.")
            if row.phase is not Phase.AWAITING_APPROVAL:
                return PhoneOutcome(row.phase is Phase.APPROVED, row.reason)
            if time.monotonic() >= deadline:
                if await self.expire(held.id, now=datetime.now(held.expires_at.tzinfo)):
                    return PhoneOutcome(False, "no answer")
                continue  # decided just now: read the decision
            await asyncio.sleep(POLL_INTERVAL_S)

    # ---- callbacks (service/http.py) ----

    async def decide(self, oob_id: str, event: session.Event, *, now: datetime, detail: str = "") -> OobSession | None:
        """Apply a verified callback once; None when there was nothing to
        decide (unknown, already decided or expired: nothing changes)."""
        target = session.oob_target(Phase.AWAITING_APPROVAL, event)
        decided = await self.store.decide_oob(oob_id, target, detail or _REASONS[event], now=now)
        if decided is not None:
            log.info("out-of-band answer", user=decided.username, method=decided.method, result=decided.reason)
            await self._ended(decided, now=now)
        if decided is not None and event is session.Event.REPORT_FRAUD:
            voice = decided.method == "voice"
            report = FraudReport(
                time=now,
                username=decided.username,
                source="voice" if voice else "push",
                client_name=decided.client,
                calling_station_id=decided.calling_station_id,
                phone=decided.destination if voice else "",
                device="" if voice else decided.destination,
            )
            await fraud.raise_alert(self.store, self.fraud_cfg, report, now=now, log=log, notify=self.notify)
        return decided

    async def decide_number(self, oob_id: str, number: int, *, now: datetime) -> OobSession | None:
        """A number tapped on a push with number matching (its signed URL
        verified): the right one approves, any other denies."""
        key = await self.store.callback_key()
        right = callbacks.match_number(key, oob_id)
        if hmac.compare_digest(f"{number:02d}".encode(), f"{right:02d}".encode()):
            return await self.decide(oob_id, session.Event.APPROVE, now=now)
        return await self.decide(oob_id, session.Event.DENY, now=now, detail=push_guard.WRONG_NUMBER)

    async def inbound_sms(self, sender: str, body: str, *, now: datetime) -> OobSession | None:
        """Two-way SMS: the user texted the code back. A reply that matches
        no code denies what is pending for that number: one guess per code,
        as on the call, since a sender number can be spoofed on some routes."""
        key = await self.store.callback_key()
        text = body.strip()
        pending = [p for p in await self.store.pending_oob_for(sender, "sms", now=now) if p.code_hash is not None]
        for held in pending:
            assert held.code_hash is not None
            if hmac.compare_digest(callbacks.code_hash(key, held.id.encode(), text), held.code_hash):
                return await self.decide(held.id, session.Event.APPROVE, now=now)
        for held in pending:
            await self.decide(held.id, session.Event.DENY, now=now, detail="wrong code")
        return None
