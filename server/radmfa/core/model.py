"""Typed, immutable values that cross ring boundaries.

Times are tz-aware UTC datetimes. Byte strings stay bytes: RADIUS carries
octets, and a User-Name that is not UTF-8 must not be silently rewritten.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypeVar

# One RADIUS attribute, (type, value), as the codec defines it; re-exported
# because the values below carry attributes.
from radmfa.radius.wire import Attr as Attr

# The request path reads the members of these enums it compares against from
# module globals (``_BLOCKED = UserState.BLOCKED``): on Python 3.11 reading a
# member off its class goes through EnumType.__getattr__'s hook, a call of
# about 850 instructions, against a few dozen for a global.


class UserState(enum.StrEnum):
    """What a user's login needs (seed 001)."""

    ENABLED = "enabled"  # MFA once a factor is enrolled ([mfa] new_user says what happens before)
    DISABLED = "disabled"  # MFA not required: the password alone
    ENFORCED = "enforced"  # MFA always
    BLOCKED = "blocked"  # always rejected (admin, lockout, fraud)


# Closed choices. The settings ([mfa], [clients.<name>]) take these values
# and nothing else (config validates them); the core compares against them.
ClientMode = Literal["challenge", "oob", "auto"]  # [clients.<name>] mode: menu | hold a call/push | inline keyword
Primary = Literal["upstream", "none"]  # [clients.<name>] primary: "none" = the NAS checked the password
UnknownUsers = Literal["reject", "password-only"]  # [mfa] unknown_users
NewUserPolicy = Literal["allow", "enroll", "deny"]  # [mfa] new_user: an enabled user with no factor yet
AppPasswordMode = Literal["allow", "require", "deny"]  # [clients.<name>] app_passwords, per request
# [clients.<name>] upstream_challenge: the upstream's own Access-Challenge is
# relayed, then radmfa's factor | refused | relayed, and it is the only factor
UpstreamChallenge = Literal["relay", "reject", "relay-only"]
Method = Literal["totp", "sms", "voice", "push", "email"]  # what a user may choose as default
SendMethod = Literal["sms", "voice", "push", "email"]  # phone methods: something is sent, and counted

# Methods a user may choose as default (`user set --default-method`).
METHODS: tuple[Method, ...] = ("totp", "sms", "voice", "push", "email")
# The method an audit row records (`factor`; `report … --method`): the second
# factor as the docs and the config name it. A code is `totp` or `hotp` by
# the token that produced it; `menu` is the challenge offering the phone
# methods (none chosen yet); `upstream` is the upstream's own challenge,
# relayed (core/upstream_challenge.py); `none` means no second factor was
# used (an exemption, password only, or a reject before one was asked).
AUDIT_METHODS = ("totp", "hotp", "sms", "voice", "push", "email", "menu", "upstream", "none")


_V = TypeVar("_V")


def slot_init(cls: type[_V]) -> type[_V]:
    """Build the frozen slotted dataclass ``cls`` the fast way: its values are
    built several times for every request, and the generated __init__ goes
    through object.__setattr__ for each field (a slot descriptor's __set__,
    a method-wrapper call each, costs about as much).

    Instead a generated __new__ fills a twin of the class (the same
    __slots__, so the same memory layout, but no frozen __setattr__) with
    plain attribute stores, then makes it an instance of ``cls`` by
    assigning __class__ (CPython allows it between classes whose layouts
    match, and checks that they do); __init__ is object's, which does
    nothing. Same parameters, defaults and default factories; once built,
    the value is as frozen as before (its class's __setattr__ is untouched).
    copy and pickle rebuild it through the same __new__ (__reduce__).
    Not for classes with __post_init__ or keyword-only fields."""
    assert not hasattr(cls, "__post_init__")
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    assert cls.__slots__ == names and not {"cls", "self"} & set(names)  # type: ignore[attr-defined]
    twin = type(f"_{cls.__name__}Filling", (), {"__slots__": names, "__module__": cls.__module__})
    namespace: dict[str, object] = {"_MISSING": MISSING, "_twin": twin, "_new": object.__new__}
    params, body = ["cls"], ["    self = _new(_twin)"]
    for i, f in enumerate(fields(cls)):  # type: ignore[arg-type]
        assert f.init and not f.kw_only
        if f.default is not MISSING:
            namespace[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory{i}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    if {f.name} is _MISSING: {f.name} = _factory{i}()")
        else:
            params.append(f.name)
        body.append(f"    self.{f.name} = {f.name}")
    body += ["    self.__class__ = cls", "    return self"]
    source = f"def __new__({', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # noqa: S102 (text built from the class's own field names)
    new: Any = namespace["__new__"]
    new.__qualname__ = f"{cls.__qualname__}.__new__"
    new.__module__ = cls.__module__

    def __reduce__(self: object) -> tuple[type, tuple[object, ...]]:
        return type(self), tuple(getattr(self, name) for name in names)

    cls.__new__ = staticmethod(new)  # type: ignore[method-assign]
    cls.__init__ = object.__init__  # type: ignore[method-assign]
    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


@slot_init
@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str | None = None
    mobile: str | None = None  # E.164, for texts and calls
    first_name: str | None = None
    last_name: str | None = None
    password_hash: str | None = None  # argon2, only for the local upstream
    created_at: datetime | None = None
    office_phone: str | None = None  # E.164, for calls
    language: str | None = None  # BCP 47 tag; picks the custom message set
    default_method: str | None = None  # one of METHODS (as stored)
    state: UserState = UserState.ENABLED
    blocked_until: datetime | None = None  # a block with an end (lockout, fraud)
    blocked_reason: str | None = None
    state_before_block: UserState | None = None  # restored by unblock and at blocked_until
    push_enrolled: bool = False  # subscribed to their push topic (`user set --push on`)

    def __repr__(self) -> str:  # keep the hash out of logs and tracebacks
        return f"User(id={self.id}, name={self.name!r})"


@dataclass(frozen=True, slots=True)
class NewUser:
    name: str
    email: str | None = None
    mobile: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    password_hash: str | None = None
    office_phone: str | None = None
    language: str | None = None
    default_method: str | None = None
    state: UserState = UserState.ENABLED
    push_enrolled: bool = False


# The profile fields Store.update_user may change.
USER_FIELDS = (
    "email",
    "mobile",
    "first_name",
    "last_name",
    "office_phone",
    "language",
    "default_method",
    "state",
    "blocked_until",
    "blocked_reason",
    "push_enrolled",
    "state_before_block",
)


@slot_init
@dataclass(frozen=True, slots=True)
class Token:
    id: int
    username: str
    kind: str  # "totp" | "hotp"
    secret: bytes  # raw seed, decrypted; never logged
    digits: int = 6
    period: int = 30
    algorithm: str = "sha1"
    last_step: int | None = None  # highest TOTP step (or HOTP counter) accepted
    label: str | None = None
    created_at: datetime | None = None
    fail_count: int = 0  # wrong codes since the last accepted one, counted by every worker
    failed_at: datetime | None = None  # when the last wrong code came
    serial: str | None = None  # hardware tokens: the serial number printed on the device

    def __repr__(self) -> str:  # keep seeds out of tracebacks and logs
        return f"Token(id={self.id}, username={self.username!r}, kind={self.kind!r})"


@dataclass(frozen=True, slots=True)
class NewToken:
    kind: str
    secret: bytes
    digits: int = 6
    period: int = 30
    algorithm: str = "sha1"
    label: str | None = None
    serial: str | None = None  # hardware tokens only; unique across all tokens
    last_step: int | None = None  # HOTP: the counter already used (imported counter - 1)

    def __repr__(self) -> str:
        return f"NewToken(kind={self.kind!r}, digits={self.digits})"


class Phase(enum.Enum):
    """Challenge-session phases; transitions live in core/session.py."""

    AWAITING_CODE = "awaiting_code"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # out-of-band (a call or push the user answers on the phone)
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    DENIED = "denied"


@slot_init
@dataclass(frozen=True, slots=True)
class Session:
    """An open Access-Challenge. ``state`` is the State attribute we sent.

    A relayed upstream challenge (factor ``upstream``) keeps in
    ``reply_attrs`` the upstream's State, which goes back with the answer
    (core/upstream_challenge.py).
    """

    state: bytes
    client: str  # client name from clients.conf
    username: bytes
    factor: str
    attempts: int
    expires_at: datetime
    reply_attrs: tuple[Attr, ...] = ()  # upstream's authorization attributes
    phase: Phase = Phase.AWAITING_CODE

    def __repr__(self) -> str:
        return f"Session(client={self.client!r}, user={self.username!r}, attempts={self.attempts})"


@dataclass(frozen=True, slots=True)
class OobSession:
    """A call, push or two-way text the user answers on the phone while the
    Access-Request is held. Lives in the store, so whichever process or node
    receives the provider's callback decides it, and the waiting request
    (polling the store) sees the decision."""

    id: str  # random, URL-safe; appears in callback URLs
    username: str  # name_key of the user
    client: str  # client name from clients.conf
    method: str  # "voice" | "push" | "sms" (two-way)
    destination: str  # the number called / texted, or the push topic
    waiter: str  # request id of the Access-Request now waiting for it
    expires_at: datetime
    phase: Phase = Phase.AWAITING_APPROVAL
    reason: str = ""  # how it was decided: "approved", "denied", "fraud", "no answer", …
    code_hash: bytes | None = None  # two-way SMS: keyed hash of the code texted
    calling_station_id: str = ""

    def __repr__(self) -> str:
        return f"OobSession(user={self.username!r}, method={self.method!r}, phase={self.phase.value})"


class AuditRecord(NamedTuple):
    """One answered request, its fields in the audit table's column order: a
    tuple, built once per request on the event loop for the cost of one
    tuple (a dataclass costs a slot store per field), and stored as it is
    but for its time (store/sql_audit.py)."""

    time: datetime
    request_id: str
    client_name: str
    client_ip: str
    username: str
    calling_station_id: str
    factor: str
    result: str  # "accept" | "reject" | "challenge"
    reason: str
    duration_ms: float
    # What else each verification records (seed 002). Names and email only
    # when [audit] record_names / record_email say so; "" when unknown.
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""  # the number texted or called (voice/SMS)
    device: str = ""  # the push device (mobile app)
    user_ip: str = ""  # the end user's address, per the client's user_ip_attribute
    server_name: str = ""  # this radmfa node
    server_ip: str = ""


@slot_init
@dataclass(frozen=True, slots=True)
class AuthRequest:
    """One Access-Request as the pipeline sees it (already authenticated)."""

    request_id: str
    client: str  # client name from clients.conf
    client_ip: str
    username: bytes | None
    password: bytes | None  # plaintext User-Password; never logged
    state: bytes | None
    calling_station_id: str
    authenticator: bytes  # the NAS's Request Authenticator
    attrs: tuple[Attr, ...]  # every request attribute, raw, in order

    def __repr__(self) -> str:
        return f"AuthRequest(id={self.request_id}, client={self.client!r}, user={self.username!r})"


@slot_init
@dataclass(frozen=True, slots=True)
class PrimaryResult:
    accepted: bool
    reply_attrs: tuple[Attr, ...] = ()  # authorization attributes for the final Accept
    reply_message: bytes | None = None  # upstream's Reply-Message on reject
    server: str = ""
    reason: str = ""
    relayed: bool = True  # a reject from a remote server (not delayed, PROXY-9)
    # Who the upstream says logged in (LDAP: the entry's user_attribute;
    # RADIUS: the User-Name of its Access-Accept, RFC 2865 §5.1), when it can
    # say. Upstreams match names their own way (RFC 4518: width, soft hyphens,
    # spaces); the pipeline rejects unless it is a valid name with the same
    # name_key.
    canonical_name: str | None = None
    # The upstream's own Access-Challenge (RSA SecurID next-token or new-PIN,
    # an upstream OTP): its attributes, its State included; ``accepted`` is
    # False. core/upstream_challenge.py decides what is relayed.
    challenge: tuple[Attr, ...] | None = None


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """An argon2 check of a password radmfa keeps itself (local, app)."""

    ok: bool
    refused: str = ""  # not checked at all (a spent attempt budget, a full pool): the audit reason


class Verdict(enum.Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    CHALLENGE = "challenge"


@slot_init
@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str
    factor: str = ""
    attrs: tuple[Attr, ...] = ()  # reply attributes (no MA, no Proxy-State)
    local: bool = True  # False when relaying the upstream's own Access-Reject
    backend_failure: bool = False  # no verdict on the user: upstream or store failed
    # For the audit row (seed 002): set by the factor that called or pushed,
    # copied into AuditRecord by the listener.
    phone: str = ""  # the number called or texted
    device: str = ""  # the push device
    user: User | None = None  # who the request named, when the store knows them

    def with_user(self, user: User) -> Decision:
        """This decision naming ``user``: dataclasses.replace's result, built
        directly (replace inspects the fields on every call, and every login
        answer goes through here)."""
        return Decision(
            self.verdict, self.reason, self.factor, self.attrs, self.local, self.backend_failure,
            self.phone, self.device, user,
        )


@dataclass(frozen=True, slots=True)
class PhoneOutcome:
    """How a phone factor's step ended: a held call or push, or why a code
    was not sent (then never ``approved``)."""

    approved: bool
    reason: str  # audit reason: "approved", "denied", "fraud", "no answer", "superseded", …
    message: str | None = None  # Reply-Message for a reject


@slot_init
@dataclass(frozen=True, slots=True)
class CodeCheck:
    """Outcome of checking a one-time code."""

    ok: bool
    reason: str
    token_id: int | None = None
    kind: str = ""  # the matching token's kind ("totp" | "hotp"), when one matched
    recorded: bool = False  # the MFA success was written with the step (CodeStore.consume_otp_step)


# Messages an operator may replace with their own text (or, for the voice
# kinds, a recording): `radmfa message add KIND` (seed 000, custom messages).
MESSAGE_KINDS = (
    "sms",
    "voice_greeting",
    "voice_prompt",
    "challenge_menu",
    "challenge_code",
    "push_title",
    "push_text",
    "email_subject",
    "email_body",
)
VOICE_KINDS = ("voice_greeting", "voice_prompt")


@dataclass(frozen=True, slots=True)
class CustomMessage:
    """An operator's message: text, or a recording for a voice kind.

    ``language`` "" is the default set (any language); ``client`` "" applies
    to every client. Listings carry ``audio_type`` and ``audio_size`` but not
    the recording itself (``audio`` is None); MessageLookup.voice_file has it.
    """

    kind: str  # one of MESSAGE_KINDS
    language: str = ""  # lower-case BCP 47 tag, or "" for the default set
    client: str = ""  # clients.conf client name, or "" for every client
    text: str | None = None
    audio: bytes | None = None  # .wav or .mp3 bytes, only when adding
    audio_type: str | None = None  # "audio/wav" | "audio/mpeg"
    audio_size: int = 0
    created_at: datetime | None = None
    id: int | None = None  # set by the store

    def __repr__(self) -> str:  # a 5 MB recording must not land in a log line
        return (
            f"CustomMessage(id={self.id}, kind={self.kind!r}, language={self.language!r}, "
            f"client={self.client!r})"
        )


# -- the admin's controls (core/exemptions.py decides, store/sql_exemptions.py keeps) --


@dataclass(frozen=True, slots=True)
class Bypass:
    """A one-time bypass: the next login of the user before ``expires_at``
    skips the second factor (not the password), once. Rows are kept after
    use, expiry or cancellation: they are the bypass report."""

    id: int
    user_id: int
    username: str
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    cancelled_at: datetime | None = None
    used_at: datetime | None = None
    used_client: str | None = None  # the clients.conf name of the NAS it was used through
    used_station: str | None = None  # the end user's address (the client's user_ip_attribute)

    def status(self, *, now: datetime) -> str:
        if self.used_at is not None:
            return "used"
        if self.cancelled_at is not None:
            return "cancelled"
        return "open" if now < self.expires_at else "expired"


@dataclass(frozen=True, slots=True)
class AppPassword:
    """An app password's public side; the password itself is shown once and
    only its argon2 hash is stored."""

    id: int
    username: str
    name: str  # what the user calls it ("Laptop")
    lookup: str  # the password's first characters: finds the one hash to check (not secret)
    created_at: datetime
    last_used_at: datetime | None = None
    password_hash: str = ""

    def __repr__(self) -> str:
        return f"AppPassword(id={self.id}, username={self.username!r}, name={self.name!r})"


@slot_init
@dataclass(frozen=True, slots=True)
class MfaSuccess:
    """What a complete MFA login writes (ExemptionCheckStore.record_mfa_success's
    arguments), so the store can write it with the code's step, in one trip."""

    user_id: int
    scopes: tuple[str, ...]
    station: str  # "" when this client remembers no devices
    client: str
    now: datetime


class Claimed(enum.Enum):
    """What CodeStore.claim_code did with a challenge answered by a correct code."""

    UNKNOWN = "unknown"  # this process did not store that session: nothing done, no trip
    GONE = "gone"  # no such session any more (taken, expired, rewritten): nothing changed
    TAKEN = "taken"  # the session was taken (single use), the step was not: decide as for any answer
    ACCEPTED = "accepted"  # the session taken, the step consumed, the MFA success recorded


@slot_init
@dataclass(frozen=True, slots=True)
class CodeClaim:
    """A challenge answered with a code that matched ``step`` of token
    ``token_id`` on what this process knew of the user: the store takes the
    session and the step, and records ``success``, in one transaction, only
    while the user still is in ``user_state`` (never blocked) and the token
    is not locked (``max_failures`` wrong codes since ``failures_since``)."""

    state: bytes
    user_id: int
    user_state: UserState
    token_id: int
    step: int
    max_failures: int
    failures_since: datetime
    success: MfaSuccess


@slot_init
@dataclass(frozen=True, slots=True)
class ExemptionView:
    """What the store knows about one user's exemptions, read in one round
    trip on the hot path (bypasses are consumed separately, atomically)."""

    bypass_open: bool = False
    cache: Mapping[str, datetime] = field(default_factory=dict)  # scope → last complete MFA success
    remembered_at: datetime | None = None  # for the station asked about


# Where a fraud report came from, and what the security team made of it.
FRAUD_SOURCES = ("voice", "push", "admin", "portal")
FRAUD_STATUSES = ("new", "reviewed", "false-alarm")


@dataclass(frozen=True, slots=True)
class FraudReport:
    """A verification the user says they did not start (seed 000)."""

    time: datetime
    username: str
    source: str  # one of FRAUD_SOURCES
    client_name: str = ""  # the NAS whose login triggered the call or push
    calling_station_id: str = ""
    phone: str = ""  # the number called, for voice
    device: str = ""  # the push device or topic, for push
    status: str = "new"  # one of FRAUD_STATUSES
    note: str = ""
    id: int | None = None  # set by the store
