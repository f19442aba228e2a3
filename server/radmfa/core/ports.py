"""Ports: the only things the core awaits. Adapters in ring 3 implement them.

A login (RADIUS, an LDAP bind, the user portal's sign-in) needs the narrow
``LoginStore`` below: one Protocol per thing a step of the request path
keeps in the store. Administration (the CLI, the portals' self-service,
housekeeping) uses ``AdminStore`` in core/admin_ports.py; ``Store`` there is
both, what store/ implements.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from radmfa.core.methods import Option
from radmfa.core.model import (
    AppPassword,
    AuditRecord,
    AuthRequest,
    Bypass,
    Claimed,
    CodeCheck,
    CodeClaim,
    CustomMessage,
    Decision,
    ExemptionView,
    FraudReport,
    MfaSuccess,
    OobSession,
    PasswordCheck,
    Phase,
    PhoneOutcome,
    PrimaryResult,
    Session,
    Token,
    User,
)

if TYPE_CHECKING:  # the settings' types only: the core imports no config reader
    from radmfa.config import ClientPolicy

# ---- the login side of the store --------------------------------------------------


class UserLookup(Protocol):
    """Users and their tokens, found by core.policy.name_key (case, DOMAIN\\
    and @realm ignored); users keep their name as added."""

    async def get_user(self, name: str) -> User | None: ...

    async def login_view(self, username: str) -> tuple[User | None, list[Token]]:
        """The user and their tokens in one round trip (the hot path)."""


class CodeStore(Protocol):
    """What a one-time code's check keeps: the replay guard and the per-token lock."""

    def consume_otp_step(
        self, token_id: int, step: int, *, success: MfaSuccess | None = None
    ) -> Awaitable[bool]:
        """Accept ``step`` once: True only if it is above the token's last
        accepted step, which it then becomes (atomic compare-and-set). The
        same update resets the token's ``fail_count`` to 0. With ``success``,
        and only if the step was accepted, also record_mfa_success(success)
        in the same transaction (one trip to the store for the decision).
        An awaitable, not necessarily a coroutine: a backend may hand back
        its trip's own future (the work was queued when this returned)."""

    async def note_code_failure(self, token_ids: Sequence[int], *, now: datetime) -> None:
        """Count a wrong code against each of ``token_ids``: ``fail_count`` + 1
        and ``failed_at = now``, in one atomic update (concurrent calls from
        any worker or node are all counted)."""

    def claim_code(self, claim: CodeClaim) -> Awaitable[Claimed]:
        """A challenge answered with a correct code, in one transaction (one
        round trip): take the session under ``claim.state`` (single use, only
        the row this process stored and only before it expires), then
        consume_otp_step with ``claim.success`` while the user and the token
        are as CodeClaim says. UNKNOWN (no trip) when this process did not
        store that session; GONE when it was not there (nothing changed);
        TAKEN when the session was taken but not the step. An awaitable, as
        consume_otp_step's."""


class ChallengeStore(Protocol):
    """Open Access-Challenges, found by the State we sent."""

    def put_session(self, session: Session) -> Awaitable[None]:
        """Store ``session`` under its State (replacing one there); committed
        when the awaitable is done. An awaitable, as consume_otp_step's."""

    async def take_session(self, state: bytes, *, now: datetime) -> Session | None:
        """Remove and return the session (single use); None when absent or expired."""

    async def take_session_view(
        self, state: bytes, *, now: datetime, username: str | None = None
    ) -> tuple[Session | None, User | None, list[Token]]:
        """take_session, then login_view of the session's user, in one trip
        to the store (answering a challenge needs both). ``username``: the
        answering request's name; the store may read that user's view with
        the session, in one statement, instead of the session's user's: the
        caller refuses a session whose User-Name is not the request's."""


class ExemptionCheckStore(Protocol):
    """What the admin's controls read and use up on the request path
    (store/sql_exemptions.py). Users are found by id (ids are never reused)."""

    async def find_app_password(self, user_id: int, lookup: str) -> AppPassword | None:
        """The one candidate for a password starting with ``lookup`` (with its hash)."""

    async def touch_app_password(self, password_id: int, *, now: datetime) -> None: ...

    async def exemption_view(
        self, user_id: int, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> ExemptionView:
        """Open bypass?, the cache times of ``scopes`` and when ``station`` was
        remembered through ``client`` (never through another NAS), in one round trip."""

    async def login_exemption_view(
        self, username: str, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> tuple[User | None, list[Token], ExemptionView]:
        """login_view and that user's exemption_view, in one round trip: all
        a login reads (an empty ExemptionView when there is no such user)."""

    async def consume_bypass(self, user_id: int, *, client: str, station: str, now: datetime) -> Bypass | None:
        """Use one open bypass of the user (created_at <= now < expires_at) in
        one atomic statement: of any number of racing logins, one gets it."""

    async def record_mfa_success(
        self, user_id: int, *, scopes: Sequence[str], station: str, client: str, now: datetime
    ) -> None:
        """Set the cache time of ``scopes``, remember ``station`` (unless "")
        and clear the second-factor failure count."""


class BlockStore(Protocol):
    async def block_user(self, username: str, *, until: datetime | None, reason: str) -> bool:
        """Block the user until ``until`` (None: until unblocked) with
        ``reason``, in one statement that never shortens a block already in
        place (an admin's or directory sync's block until unblocked stays so);
        True when this block was set."""


class LockoutStore(BlockStore, Protocol):
    """The second-factor failure count behind the lockout."""

    async def note_mfa_failure(self, user_id: int, *, now: datetime) -> int:
        """Count one second-factor failure (atomic increment); the new count."""

    async def clear_mfa_failures(self, user_id: int) -> None: ...


class OobStore(Protocol):
    """Phone factors: held calls and pushes, texted codes, the callback key.
    Shared by every worker and node."""

    async def hold_oob(self, oob: OobSession, *, now: datetime) -> tuple[OobSession, bool]:
        """Open ``oob``, or when an undecided one exists for the same user and
        client, make ``oob.waiter`` its waiter instead: (session, opened).
        Only a request from the same Calling-Station-Id joins; otherwise the
        running session comes back unchanged (its waiter is not ``oob.waiter``)."""

    async def get_oob(self, oob_id: str) -> OobSession | None: ...

    async def get_oob_for_waiter(self, waiter: str) -> OobSession | None:
        """The session ``waiter`` waits for (decided or not); None when there
        is none, or a newer request has taken it over."""

    async def decide_oob(self, oob_id: str, phase: Phase, reason: str, *, now: datetime) -> OobSession | None:
        """Set the phase of an undecided, unexpired session, atomically; None
        when it is unknown, already decided or expired (nothing changes)."""

    async def expire_oob(self, oob_id: str) -> OobSession | None:
        """Mark an undecided session EXPIRED (the waiter timed out)."""

    async def pending_oob_for(self, destination: str, method: str, *, now: datetime) -> list[OobSession]: ...

    async def put_code(self, state: bytes, code_hash: bytes, *, expires_at: datetime) -> None: ...

    async def take_code(self, state: bytes, *, now: datetime) -> tuple[bytes, datetime] | None:
        """Remove and return (hash, expiry) of the code sent for ``state``
        (single use); None when absent or expired."""

    async def callback_key(self) -> bytes:
        """32 random bytes, made once and shared through the store."""


class SendCounterStore(Protocol):
    """Fixed-window counters of codes, calls and pushes sent (abuse limits)."""

    async def count_send(self, scope: str, method: str, window_start: int, *, expires_at: datetime) -> int:
        """Add one to the (scope, method, window_start) counter, creating it
        at 1, and return the new count, in one atomic statement: concurrent
        calls from any worker or node each see a distinct count."""

    async def uncount_send(self, scope: str, method: str, window_start: int) -> None:
        """Take back one count (a send refused by a later limit)."""


class MessageLookup(Protocol):
    """Operators' custom messages and recordings, as the send path reads them."""

    async def find_messages(
        self, kind: str, languages: Sequence[str], clients: Sequence[str]
    ) -> list[CustomMessage]:
        """The messages of ``kind`` whose language is one of ``languages``
        and client one of ``clients`` (one query: the send path), without
        the audio, in no particular order."""

    async def voice_file(self, message_id: int) -> tuple[bytes, str] | None:
        """The recording and its content type; None for no such message or a text one."""


class FraudAlertStore(BlockStore, Protocol):
    """What a fraud report does to the store (core/fraud.py)."""

    async def add_fraud_report(self, report: FraudReport) -> FraudReport:
        """Store it; the report as stored, with its id."""

    async def forget_devices(self, username: str, station: str | None = None) -> int:
        """Forget one station, or (None) all the user's devices; either way
        the user's cache entries go too (a "user" rule would let that station
        skip the code as well)."""


class AuditWriter(Protocol):
    async def write_audit(self, rows: Sequence[AuditRecord]) -> None:
        """One row per answered request."""


class PushStreakStore(Protocol):
    """The push deny streak (core/push_guard.py): denied, wrongly matched and
    unanswered pushes in a row, per user, shared by every worker and node."""

    async def note_push_refusal(self, username: str, *, now: datetime, window_s: int, limit: int) -> int:
        """Count one refused push (atomic upsert); the streak's new length. A
        streak below ``limit`` older than ``window_s`` starts again at 1."""

    async def push_streak(self, username: str, *, now: datetime, window_s: int, limit: int) -> int:
        """The streak's length now (0 when its window passed below ``limit``)."""

    async def clear_push_streak(self, username: str) -> bool:
        """Forget the streak (an approved push, an administrator); True when there was one."""


class PasswordRehashStore(Protocol):
    """A hash made again with the current argon2 parameters, written only if
    the stored hash is still the one that was checked (a password changed
    meanwhile is kept). True when it was written."""

    async def rehash_password(self, name: str, old_hash: str, new_hash: str) -> bool: ...

    async def rehash_app_password(self, password_id: int, old_hash: str, new_hash: str) -> bool: ...


class LoginStore(
    UserLookup,
    CodeStore,
    ChallengeStore,
    ExemptionCheckStore,
    LockoutStore,
    OobStore,
    SendCounterStore,
    MessageLookup,
    FraudAlertStore,
    PushStreakStore,
    AuditWriter,
    PasswordRehashStore,
    Protocol,
):
    """Everything a login awaits from the store, and nothing else: a fake
    of this (tests/fakes/ports.py) drives the pipeline in unit tests.

    Single-use things are consumed atomically in the database, so two
    processes racing on the same State or TOTP step cannot both win."""


# ---- the other ports of a login ---------------------------------------------------


class Upstream(Protocol):
    """Primary authentication. Raises UpstreamUnavailable when nobody answers."""

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult: ...

    def healthy(self) -> bool:
        """False when no server is expected to answer (all recently timed out)."""

    async def close(self) -> None: ...


class Factor(Protocol):
    """A second factor: start() opens it, verify() checks the answer."""

    name: str

    def start(self, user: User, tokens: list[Token]) -> str:
        """The prompt to show (Reply-Message text)."""

    def usable(self, tokens: list[Token]) -> list[Token]:
        """The user's tokens this factor can verify."""

    def method(self, tokens: list[Token], check: CodeCheck | None = None) -> str:
        """The audit method (model.AUDIT_METHODS) of a code check: the kind of
        the token that matched, else the kind the user's tokens are."""

    async def verify(
        self, tokens: list[Token], code: bytes, *, now: datetime, success: MfaSuccess | None = None
    ) -> CodeCheck:
        """Check ``code``; with ``success``, a correct code also records it
        in the same store trip (CodeCheck.recorded)."""

    async def claim(
        self, state: bytes, user: User, tokens: list[Token], code: bytes, *, success: MfaSuccess
    ) -> tuple[Claimed, str]:
        """The challenge under ``state`` answered with ``code``, checked on
        ``tokens`` as this process read them when it asked: if it matches,
        CodeStore.claim_code, and the matching token's kind; else UNKNOWN
        (nothing done). The time is ``success.now``."""


class AppPasswordCheck(Protocol):
    """argon2 for app passwords, off the event loop (argon2 is slow by design),
    within the per-user and per-client attempt budgets; a right password whose
    hash has old parameters is hashed again and stored."""

    async def verify_app_password(self, found: AppPassword, canonical: str, *, client: str) -> PasswordCheck: ...

    async def verify_decoy(self, canonical: str, *, user: str, client: str) -> PasswordCheck:
        """Spend one verification's time on a password that has no row, so that
        how long a reject takes does not tell whether its lookup prefix exists."""


class ClientPolicies(Protocol):
    """``[clients.<name>]`` by client name (RADIUS clients and LDAP
    applications); the defaults for a client without a table. Shared by the
    pipeline and the listener, and replaced as a whole on SIGHUP."""

    def policy_for(self, client: str) -> ClientPolicy: ...


class Deadline(Protocol):
    """When the caller gives up on this request. The RADIUS listener's
    watchdog cancels a request after [radius] request_timeout_s; a request
    held for a call or push legitimately waits longer and says so here."""

    def extend(self, seconds: float) -> None:
        """Let this request run ``seconds`` more from now."""


class _FixedDeadline:
    def extend(self, seconds: float) -> None:
        return None


# A deadline that does not move: the caller bounds the request itself (the
# LDAP front's bind_timeout_s) or not at all (tests).
FIXED_DEADLINE: Deadline = _FixedDeadline()


class Decider(Protocol):
    """core.pipeline.Pipeline as a front end (RADIUS, LDAP) uses it."""

    async def handle(self, request: AuthRequest, *, now: datetime, deadline: Deadline = FIXED_DEADLINE) -> Decision: ...


class EventLog(Protocol):
    """Where the core's few log lines go: a structlog logger in the service."""

    def info(self, event: str, **fields: object) -> object: ...

    def warning(self, event: str, **fields: object) -> object: ...


class Phone(Protocol):
    """SMS, voice, push and e-mail as the pipeline's phone block uses them
    (factors/phone.py): texts composed, codes sent and checked, calls and
    pushes held until the person answers."""

    @property
    def two_way_sms(self) -> bool:
        """A texted code is answered by texting it back (held), not typed in."""

    @property
    def code_ttl_s(self) -> int:
        """How long a texted or e-mailed code stays valid."""

    def options(self, user: User) -> list[Option]: ...

    async def menu(self, user: User, client: str, *, has_code: bool) -> tuple[str, dict[str, Option]]:
        """The challenge menu's text and what each key chooses."""

    async def text(self, kind: str, client: str, *, user: str, language: str | None, **values: str) -> str: ...

    async def send_code(
        self, user: User, option: Option, *, client: str, state: bytes, now: datetime
    ) -> PhoneOutcome | None:
        """Send a fresh code for the challenge ``state``; None when sent, else why not."""

    async def check_code(
        self, state: bytes, code: bytes, *, now: datetime, carry_to: bytes | None = None
    ) -> bool | None:
        """True/False for the code sent for ``state``, taken (single use); None
        when none is pending. A wrong guess stays valid under ``carry_to``."""

    async def hold(
        self, user: User, option: Option, request: AuthRequest, *, now: datetime, deadline: Deadline, ip: str = ""
    ) -> PhoneOutcome:
        """Ring or push (or text for a two-way reply) and wait for the answer;
        ``ip`` is the end user's address, shown in the push."""

    async def offer_number(
        self, user: User, option: Option, request: AuthRequest, *, waiter: str, now: datetime, ip: str = ""
    ) -> tuple[int | None, PhoneOutcome | None]:
        """Push three numbers for the challenge whose State (hex) is
        ``waiter``: (the number to show, None) or (None, why not)."""

    async def wait_number(
        self, user: User, client: str, *, waiter: str, now: datetime, deadline: Deadline
    ) -> PhoneOutcome:
        """The challenge's answer: wait for the push offered for ``waiter``."""


# ---- delivery of phone, push and e-mail factors -----------------------------------
# Each raises errors.DeliveryError when the provider does not take the message.


class SmsSender(Protocol):
    async def send_sms(self, to: str, text: str) -> None: ...


class VoiceCaller(Protocol):
    async def place_call(self, to: str, *, answer_url: str, status_url: str) -> None:
        """Ring ``to``; the provider fetches ``answer_url`` for what to say
        (TwiML) and posts the call's end to ``status_url``."""


class PushSender(Protocol):
    async def push(
        self, topic: str, *, title: str, text: str, actions: Sequence[tuple[str, str]],
        fields: Mapping[str, str] | None = None,
    ) -> None:
        """Notify ``topic``; ``actions`` are (label, callback URL) buttons (at
        most three: ntfy's limit). ``fields`` name every URL and detail for a
        provider that fills a template (approve_url, deny_url, fraud_url,
        number1..3 and number1_url..number3_url, nas, ip, time)."""


class EmailSender(Protocol):
    async def send_email(self, to: str, *, subject: str, body: str) -> None: ...
