"""In-memory fakes of the core's ports (server/radmfa/core/ports.py), to
drive the pipeline in unit tests: an upstream, a login store, senders and a
log. The pipeline tests run each scenario on the fake store and on the real
SQLite store, so the fake cannot drift from what the store does there;
tests/unit/test_fake_ports.py checks it has every LoginStore method."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from radmfa.config import ClientPolicy, MfaConfig, PasswordsConfig
from radmfa.core.model import (
    AppPassword,
    AuditRecord,
    AuthRequest,
    Bypass,
    Claimed,
    CodeClaim,
    CustomMessage,
    ExemptionView,
    FraudReport,
    MfaSuccess,
    NewToken,
    NewUser,
    OobSession,
    Phase,
    PrimaryResult,
    Session,
    Token,
    User,
    UserState,
)
from radmfa.core.pipeline import Pipeline
from radmfa.core.policy import decode_name, name_key
from radmfa.core.ports import Factor, LoginStore, Phone
from radmfa.errors import AlreadyExists, DeliveryError, UpstreamUnavailable, no_such_user
from radmfa.factors import build_factors
from radmfa.radius import wire
from radmfa.service.policies import PolicyTable
from radmfa.upstream.passwords import Passwords


@dataclass
class FakeUpstream:
    """Accepts the passwords it is given, per User-Name; ``down`` = nobody answers."""

    passwords: dict[bytes, bytes] = field(default_factory=lambda: {b"alice": b"pw", b"bob": b"pw"})
    down: bool = False
    calls: list[bytes] = field(default_factory=list)

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        self.calls.append(password)
        if self.down:
            raise UpstreamUnavailable("down")
        if self.passwords.get(request.username or b"") == password:
            return PrimaryResult(True, ((11, b"vpn"), (wire.STATE, b"upstream-state"), (25, b"cls")))
        return PrimaryResult(False, reply_message=b"bad password")

    def healthy(self) -> bool:
        return not self.down

    async def close(self) -> None:
        return None


@dataclass
class FakeSenders:
    """SmsSender, VoiceCaller, PushSender and EmailSender in memory;
    ``fail`` makes each refuse like a provider answering HTTP 500."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail: bool = False
    on_push: Any = None  # called with the push's actions (label, URL), as a task

    async def send_sms(self, to: str, text: str) -> None:
        self._send("sms", to, text)

    async def place_call(self, to: str, *, answer_url: str, status_url: str) -> None:
        self._send("voice", to, answer_url)

    async def push(self, topic: str, *, title: str, text: str, actions: Any, fields: Any = None) -> None:
        self._send("push", topic, text)
        if self.on_push is not None:
            asyncio.get_running_loop().create_task(self.on_push(actions))

    async def send_email(self, to: str, *, subject: str, body: str) -> None:
        self._send("email", to, body)

    def _send(self, method: str, to: str, text: str) -> None:
        if self.fail:
            raise DeliveryError("provider x: answered HTTP 500")
        self.sent.append((method, to, text))


@dataclass
class RecordingLog:
    """The EventLog port: keeps (level, event, fields)."""

    lines: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)

    def info(self, event: str, **fields: object) -> None:
        self.lines.append(("info", event, fields))

    def warning(self, event: str, **fields: object) -> None:
        self.lines.append(("warning", event, fields))

    def events(self) -> list[str]:
        return [event for _, event, _ in self.lines]


class FakeLoginStore:
    """LoginStore in memory, plus the few admin calls the tests use to set
    it up (add_user, add_token, update_user, add_app_password, create_bypass)."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}  # name_key → user
        self.tokens: dict[int, Token] = {}
        self.sessions: dict[bytes, Session] = {}
        self.app_passwords: dict[int, AppPassword] = {}
        self.bypasses: list[Bypass] = []
        self.cache: dict[tuple[int, str], datetime] = {}
        self.remembered: dict[tuple[int, str, str], datetime] = {}
        self.failures: dict[int, int] = {}
        self.oob: dict[str, OobSession] = {}
        self.codes: dict[bytes, tuple[bytes, datetime]] = {}
        self.counters: dict[tuple[str, str, int], int] = {}
        self.fraud: list[FraudReport] = []
        self.streaks: dict[str, tuple[datetime, int]] = {}  # name_key → (first refusal, count)
        self.audit: list[AuditRecord] = []
        self._key = secrets.token_bytes(32)
        self._ids = iter(range(1, 1 << 30))

    # ---- setting up (the admin side, as far as the tests need it) ----

    async def add_user(self, user: NewUser) -> User:
        key = name_key(user.name)
        if key in self.users:
            raise AlreadyExists(f"user {user.name!r} exists")
        fields = {f: getattr(user, f) for f in user.__dataclass_fields__}
        stored = User(id=next(self._ids), **fields)
        self.users[key] = stored
        return stored

    async def add_token(self, username: str, token: NewToken) -> Token:
        user = await self.get_user(username)
        if user is None:
            raise no_such_user(username)
        stored = Token(
            id=next(self._ids), username=user.name, kind=token.kind, secret=token.secret, digits=token.digits,
            period=token.period, algorithm=token.algorithm, label=token.label, serial=token.serial,
            last_step=token.last_step,
        )
        self.tokens[stored.id] = stored
        return stored

    async def update_user(self, name: str, changes: Mapping[str, object]) -> User | None:
        user = await self.get_user(name)
        if user is None:
            return None
        updated = replace(user, **changes)  # type: ignore[arg-type]
        self.users[name_key(name)] = updated
        return updated

    # ---- UserLookup ----

    async def get_user(self, name: str) -> User | None:
        return self.users.get(name_key(name))

    async def login_view(self, username: str) -> tuple[User | None, list[Token]]:
        user = await self.get_user(username)
        if user is None:
            return None, []
        return user, [t for t in self.tokens.values() if name_key(t.username) == name_key(user.name)]

    # ---- CodeStore ----

    async def consume_otp_step(self, token_id: int, step: int, *, success: MfaSuccess | None = None) -> bool:
        token = self.tokens[token_id]
        if token.last_step is not None and step <= token.last_step:
            return False
        self.tokens[token_id] = replace(token, last_step=step, fail_count=0)
        if success is not None:
            await self.record_mfa_success(
                success.user_id, scopes=success.scopes, station=success.station, client=success.client,
                now=success.now,
            )
        return True

    async def claim_code(self, claim: CodeClaim) -> Claimed:
        # Like a store in another process: the pipeline answers the long way.
        return Claimed.UNKNOWN

    async def note_code_failure(self, token_ids: Sequence[int], *, now: datetime) -> None:
        for i in token_ids:
            self.tokens[i] = replace(self.tokens[i], fail_count=self.tokens[i].fail_count + 1, failed_at=now)

    # ---- ChallengeStore ----

    async def put_session(self, session: Session) -> None:
        self.sessions[session.state] = session

    async def take_session(self, state: bytes, *, now: datetime) -> Session | None:
        found = self.sessions.pop(state, None)
        return found if found is not None and found.expires_at > now else None

    async def take_session_view(
        self, state: bytes, *, now: datetime, username: str | None = None
    ) -> tuple[Session | None, User | None, list[Token]]:
        found = await self.take_session(state, now=now)
        if found is None:
            return None, None, []
        name = decode_name(found.username)
        user, tokens = await self.login_view(name) if name is not None else (None, [])
        return found, user, tokens

    # ---- ExemptionCheckStore ----

    async def add_app_password(
        self, username: str, *, name: str, lookup: str, password_hash: str, limit: int, now: datetime
    ) -> AppPassword:
        row = AppPassword(next(self._ids), username, name, lookup, now, password_hash=password_hash)
        self.app_passwords[row.id] = row
        return row

    async def find_app_password(self, user_id: int, lookup: str) -> AppPassword | None:
        user = next((u for u in self.users.values() if u.id == user_id), None)
        return next(
            (a for a in self.app_passwords.values()
             if user is not None and name_key(a.username) == name_key(user.name) and a.lookup == lookup),
            None,
        )

    async def touch_app_password(self, password_id: int, *, now: datetime) -> None:
        self.app_passwords[password_id] = replace(self.app_passwords[password_id], last_used_at=now)

    async def rehash_app_password(self, password_id: int, old_hash: str, new_hash: str) -> bool:
        row = self.app_passwords.get(password_id)
        if row is None or row.password_hash != old_hash:
            return False
        self.app_passwords[password_id] = replace(row, password_hash=new_hash)
        return True

    async def rehash_password(self, name: str, old_hash: str, new_hash: str) -> bool:
        user = self.users.get(name_key(name))
        if user is None or user.password_hash != old_hash:
            return False
        self.users[name_key(name)] = replace(user, password_hash=new_hash)
        return True

    async def create_bypass(
        self, username: str, *, seconds: int, reason: str, created_by: str, now: datetime
    ) -> Bypass:
        user = await self.get_user(username)
        if user is None:
            raise no_such_user(username)
        row = Bypass(next(self._ids), user.id, user.name, reason, created_by, now, now + timedelta(seconds=seconds))
        self.bypasses.append(row)
        return row

    def _open_bypass(self, user_id: int, now: datetime) -> int | None:
        return next(
            (i for i, b in enumerate(self.bypasses) if b.user_id == user_id and b.status(now=now) == "open"
             and b.created_at <= now),
            None,
        )

    async def exemption_view(
        self, user_id: int, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> ExemptionView:
        cache = {s: self.cache[(user_id, s)] for s in scopes if (user_id, s) in self.cache}
        remembered = self.remembered.get((user_id, station, client)) if station else None
        return ExemptionView(self._open_bypass(user_id, now) is not None, cache, remembered)

    async def consume_bypass(self, user_id: int, *, client: str, station: str, now: datetime) -> Bypass | None:
        i = self._open_bypass(user_id, now)
        if i is None:
            return None
        self.bypasses[i] = replace(self.bypasses[i], used_at=now, used_client=client, used_station=station)
        return self.bypasses[i]

    async def login_exemption_view(
        self, username: str, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> tuple[User | None, list[Token], ExemptionView]:
        user, tokens = await self.login_view(username)
        if user is None:
            return None, [], ExemptionView()
        view = await self.exemption_view(user.id, scopes=scopes, station=station, client=client, now=now)
        return user, tokens, view

    async def record_mfa_success(
        self, user_id: int, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> None:
        for scope in scopes:
            self.cache[(user_id, scope)] = now
        if station:
            self.remembered[(user_id, station, client)] = now
        self.failures.pop(user_id, None)

    # ---- LockoutStore, BlockStore ----

    async def note_mfa_failure(self, user_id: int, *, now: datetime) -> int:
        self.failures[user_id] = self.failures.get(user_id, 0) + 1
        return self.failures[user_id]

    async def clear_mfa_failures(self, user_id: int) -> None:
        self.failures.pop(user_id, None)

    async def block_user(self, username: str, *, until: datetime | None, reason: str) -> bool:
        user = await self.get_user(username)
        if user is None:
            return False
        if user.state is UserState.BLOCKED and (
            user.blocked_until is None or (until is not None and user.blocked_until >= until)
        ):
            return False  # never shortens a block in place
        before = user.state_before_block if user.state is UserState.BLOCKED else user.state
        self.users[name_key(username)] = replace(
            user, state=UserState.BLOCKED, blocked_until=until, blocked_reason=reason, state_before_block=before
        )
        return True

    # ---- OobStore ----

    async def hold_oob(self, oob: OobSession, *, now: datetime) -> tuple[OobSession, bool]:
        running = next(
            (o for o in self.oob.values() if o.username == oob.username and o.client == oob.client
             and o.phase is Phase.AWAITING_APPROVAL and o.expires_at > now),
            None,
        )
        if running is None:
            self.oob[oob.id] = oob
            return oob, True
        if running.calling_station_id != oob.calling_station_id:
            return running, False
        joined = self.oob[running.id] = replace(running, waiter=oob.waiter)
        return joined, False

    async def get_oob(self, oob_id: str) -> OobSession | None:
        return self.oob.get(oob_id)

    async def get_oob_for_waiter(self, waiter: str) -> OobSession | None:
        return next((o for o in self.oob.values() if o.waiter == waiter), None)

    async def decide_oob(self, oob_id: str, phase: Phase, reason: str, *, now: datetime) -> OobSession | None:
        held = self.oob.get(oob_id)
        if held is None or held.phase is not Phase.AWAITING_APPROVAL or held.expires_at <= now:
            return None
        decided = self.oob[oob_id] = replace(held, phase=phase, reason=reason)
        return decided

    async def expire_oob(self, oob_id: str) -> OobSession | None:
        held = self.oob.get(oob_id)
        if held is None or held.phase is not Phase.AWAITING_APPROVAL:
            return None
        expired = self.oob[oob_id] = replace(held, phase=Phase.EXPIRED, reason="no answer")
        return expired

    async def pending_oob_for(self, destination: str, method: str, *, now: datetime) -> list[OobSession]:
        return [
            o for o in self.oob.values()
            if o.destination == destination and o.method == method and o.phase is Phase.AWAITING_APPROVAL
            and o.expires_at > now
        ]

    async def put_code(self, state: bytes, code_hash: bytes, *, expires_at: datetime) -> None:
        self.codes[state] = (code_hash, expires_at)

    async def take_code(self, state: bytes, *, now: datetime) -> tuple[bytes, datetime] | None:
        taken = self.codes.pop(state, None)
        return taken if taken is not None and taken[1] > now else None

    async def callback_key(self) -> bytes:
        return self._key

    # ---- PushStreakStore ----

    async def note_push_refusal(self, username: str, *, now: datetime, window_s: int, limit: int) -> int:
        key = name_key(username)
        first, n = self.streaks.get(key, (now, 0))
        if n < limit and first <= now - timedelta(seconds=window_s):
            first, n = now, 0
        self.streaks[key] = (first, n + 1)
        return n + 1

    async def push_streak(self, username: str, *, now: datetime, window_s: int, limit: int) -> int:
        first, n = self.streaks.get(name_key(username), (now, 0))
        return n if n >= limit or first > now - timedelta(seconds=window_s) else 0

    async def clear_push_streak(self, username: str) -> bool:
        return self.streaks.pop(name_key(username), None) is not None

    # ---- SendCounterStore ----

    async def count_send(self, scope: str, method: str, window_start: int, *, expires_at: datetime) -> int:
        key = (scope, method, window_start)
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    async def uncount_send(self, scope: str, method: str, window_start: int) -> None:
        key = (scope, method, window_start)
        self.counters[key] = self.counters.get(key, 0) - 1

    # ---- MessageLookup: no custom messages, so every text is the built-in one ----

    async def find_messages(self, kind: str, languages: Sequence[str], clients: Sequence[str]) -> list[CustomMessage]:
        return []

    async def voice_file(self, message_id: int) -> tuple[bytes, str] | None:
        return None

    # ---- FraudAlertStore, AuditWriter ----

    async def add_fraud_report(self, report: FraudReport) -> FraudReport:
        stored = replace(report, id=len(self.fraud) + 1)
        self.fraud.append(stored)
        return stored

    async def forget_devices(self, username: str, station: str | None = None) -> int:
        user = await self.get_user(username)
        if user is None:
            return 0
        gone = [k for k in self.remembered if k[0] == user.id and station in (None, k[1])]
        for device in gone:
            del self.remembered[device]
        for entry in [c for c in self.cache if c[0] == user.id]:
            del self.cache[entry]
        return len(gone)

    async def write_audit(self, rows: Sequence[AuditRecord]) -> None:
        self.audit.extend(rows)


def make_pipeline(
    mfa: MfaConfig,
    upstream: Any,
    store: LoginStore,
    *,
    clients: Mapping[str, ClientPolicy] | None = None,
    phone: Phone | None = None,
    otp: Factor | None = None,
    prompt: str | None = None,
) -> Pipeline:
    """A pipeline wired as service/app.py wires it: the real OTP factor
    (TOTP window 1) and app-password check, ``clients`` as [clients.<name>]."""
    if otp is None:
        otp = build_factors(store, window=1, prompt=mfa.prompt if prompt is None else prompt)["otp"]
    return Pipeline(
        mfa, upstream, store, otp, policies=PolicyTable(clients), passwords=Passwords(PasswordsConfig(), store),
        phone=phone,
    )
