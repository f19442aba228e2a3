"""The pipeline's stages for the admin's controls (a component of Pipeline).

The rules are pure functions in core/exemptions.py; these stages only fetch
what the rules need from the store and turn the answer into a Decision. The
order they run in is Pipeline.handle's, documented in docs/operator-guide.md
("Order of evaluation"):

  blocked → app_password → (primary) → exempt → (second factor)

Every accept after a verified second factor must call ``succeeded`` and
every wrong answer ``failed``: the cache, remembered devices and the
lockout hang on those two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

# At run time, not only for the type checker: Place's field is ClientPolicy,
# and a NamedTuple compiled by mypyc evaluates its field types on import.
from radmfa.config import ClientPolicy
from radmfa.core import exemptions
from radmfa.core.challenge import reject
from radmfa.core.exemptions import Rule
from radmfa.core.model import (
    Attr,
    AuthRequest,
    Decision,
    ExemptionView,
    MfaSuccess,
    Token,
    User,
    UserState,
    Verdict,
)
from radmfa.core.ports import AppPasswordCheck, ClientPolicies, ExemptionCheckStore, LockoutStore

if TYPE_CHECKING:
    from radmfa.config import MfaConfig


# Places kept by (client name, station), at most this many: most requests come
# from a station seen before (and all from "" when the NAS sends none).
PLACES_KEPT = 4096
# Enum members compared against on every request, as globals (core/model.py says why).
_BLOCKED = UserState.BLOCKED
_BYPASS = Rule.BYPASS
_ACCEPT = Verdict.ACCEPT


class ControlStore(ExemptionCheckStore, LockoutStore, Protocol):
    """What the admin's controls keep in the store."""


class Place(NamedTuple):
    """Where one request comes from, as the admin's controls ask the store
    about it: worked out once per request (AdminControls.place) and handed
    to each control that needs it, instead of each working it out again.
    Shared by the requests from one station: nobody changes ``scopes``."""

    policy: ClientPolicy  # [clients.<name>] of the NAS
    station: str  # the end user's address (the client's user_ip_attribute), "" when unknown
    scopes: Mapping[str, int]  # the cache scopes that apply, each with its window in seconds
    scope_names: tuple[str, ...]  # their store keys
    remembered_station: str  # the station a remembered device is looked up by; "" when the client remembers none


class Lockout:
    """[mfa] lockout_failures second-factor failures in a row block the user
    for lockout_minutes; counted in the store by every worker, node and
    portal, whatever the front end."""

    def __init__(self, mfa: MfaConfig, store: LockoutStore) -> None:
        self.mfa, self.store = mfa, store

    async def failed(self, user: User, *, now: datetime) -> bool:
        """Count a second-factor failure; True when it blocks the user."""
        if not self.mfa.lockout_failures:
            return False
        failures = await self.store.note_mfa_failure(user.id, now=now)
        if not exemptions.locks_out(failures, self.mfa.lockout_failures):
            return False
        until = exemptions.lockout_until(self.mfa.lockout_minutes, now=now)
        # Never shortens a block set meanwhile (an admin's, a fraud report's).
        await self.store.block_user(user.name, until=until, reason=exemptions.LOCKOUT_REASON)
        await self.store.clear_mfa_failures(user.id)
        return True


class AdminControls:
    def __init__(
        self, mfa: MfaConfig, store: ControlStore, policies: ClientPolicies, passwords: AppPasswordCheck
    ) -> None:
        self.mfa, self.store, self.policies, self.passwords = mfa, store, policies, passwords
        self.trusted = exemptions.TrustedNetworks(mfa.trusted_networks)
        self.lockout = Lockout(mfa, store)
        self._places: dict[tuple[str, str], Place] = {}

    def use_settings(self, mfa: MfaConfig) -> None:
        """The store's settings changed (service/live_settings.py): later logins follow them."""
        self.trusted = exemptions.TrustedNetworks(mfa.trusted_networks)
        self.lockout = Lockout(mfa, self.store)
        self.mfa = mfa
        self._places = {}  # the cache rules may have changed

    @staticmethod
    def blocked(user: User | None, *, now: datetime, factor: str = "") -> Decision | None:
        """A blocked user (an admin, the lockout, a fraud report) goes no
        further, whatever they answer: same rule, same audit reason."""
        # effective_state is BLOCKED only for a user whose state is: nothing to ask for the others.
        if user is not None and user.state is _BLOCKED and exemptions.effective_state(user, now=now) is _BLOCKED:
            return reject(exemptions.block_rule(user), factor=factor)
        return None

    async def app_password(self, request: AuthRequest, user: User | None, *, now: datetime) -> Decision | None:
        """An app password instead of the password: no upstream call, no second
        factor. Only one argon2 hash is checked: the password's first characters
        name its row."""
        if not self.mfa.app_passwords:  # the global switch: app_password_mode's first rule, before the client's
            return None
        mode = exemptions.app_password_mode(
            self.mfa.app_passwords, self.policies.policy_for(request.client), request
        )
        if mode == "deny":
            return None
        form = exemptions.app_password_form(request.password or b"")
        found = None
        if form is not None and user is not None:
            found = await self.store.find_app_password(user.id, exemptions.lookup_of(form))
        if form is None or found is None:
            if mode != "require":
                return None  # not an app password of this user: the password, upstream
            if form is not None:
                named = user.name if user else (request.username or b"").decode("utf-8", "replace")
                decoy = await self.passwords.verify_decoy(form, user=named, client=request.client)
                if decoy.refused:
                    return reject(f"{Rule.APP_PASSWORD} refused, {decoy.refused}")
            return reject(f"{Rule.APP_PASSWORD} required")
        check = await self.passwords.verify_app_password(found, form, client=request.client)
        if check.refused:
            return reject(f"{Rule.APP_PASSWORD} refused, {check.refused}")
        if not check.ok:
            return reject(f"{Rule.APP_PASSWORD} wrong")
        await self.store.touch_app_password(found.id, now=now)
        return Decision(Verdict.ACCEPT, Rule.APP_PASSWORD.value, "none")

    async def exempt(
        self,
        request: AuthRequest,
        user: User | None,
        *,
        password_ok: bool,
        has_factor: bool,
        attrs: tuple[Attr, ...],
        now: datetime,
        view: ExemptionView | None = None,
        place: Place | None = None,
    ) -> Decision | None:
        """After the password: the first of the admin's controls that lets
        this login skip the second factor, else [mfa] new_user for a user with
        no factor yet, else None (on to the second factor).

        ``password_ok`` is False when the upstream accepted an empty password
        (it should not): then no control applies, whatever it is, and the
        login needs its second factor. ``place``: this request's, when the
        caller worked it out already (login_view's)."""
        assert user is not None
        if view is not None and not view.bypass_open:
            return self.exempt_read(request, user, password_ok=password_ok, has_factor=has_factor, attrs=attrs,
                                    now=now, view=view, place=place)
        if not password_ok:
            return None if has_factor else self.new_user(UserState.ENFORCED, attrs)
        if place is None:
            place = self.place(request)
        state = exemptions.effective_state(user, now=now)
        rule = exemptions.exemption(
            state=state, trusted=place.station in self.trusted, bypass_open=False, cached=False,
            device_remembered=False,
        )
        if rule is None:
            if view is None:
                view = await self.store.exemption_view(
                    user.id, scopes=place.scope_names, station=place.remembered_station, client=request.client,
                    now=now,
                )
            rule = self._stored_exemption(place, state, view, bypass_open=view.bypass_open, now=now)
            if rule is _BYPASS and not await self.store.consume_bypass(
                user.id, client=request.client, station=place.station, now=now
            ):
                # another login used it first: the next rule decides
                rule = self._stored_exemption(place, state, view, bypass_open=False, now=now)
        return self._exempted(rule, state, has_factor, attrs)

    def exempt_read(
        self,
        request: AuthRequest,
        user: User,
        *,
        password_ok: bool,
        has_factor: bool,
        attrs: tuple[Attr, ...],
        now: datetime,
        view: ExemptionView,
        place: Place | None = None,
    ) -> Decision | None:
        """exempt() for a login whose exemptions were read with the user and
        hold no open bypass (nearly every login): nothing is left to ask the
        store, so it decides here, without a coroutine."""
        if not password_ok:
            return None if has_factor else self.new_user(UserState.ENFORCED, attrs)
        if place is None:
            place = self.place(request)
        state = user.state
        if state is _BLOCKED:  # effective_state differs only for a blocked user
            state = exemptions.effective_state(user, now=now)
        rule = exemptions.exemption(
            state=state, trusted=place.station in self.trusted, bypass_open=False, cached=False,
            device_remembered=False,
        )
        if rule is None:
            rule = self._stored_exemption(place, state, view, bypass_open=False, now=now)
        return self._exempted(rule, state, has_factor, attrs)

    def _exempted(
        self, rule: Rule | None, state: UserState, has_factor: bool, attrs: tuple[Attr, ...]
    ) -> Decision | None:
        if rule is not None:
            return Decision(_ACCEPT, rule.value, "none", attrs)
        return None if has_factor else self.new_user(state, attrs)

    def place(self, request: AuthRequest) -> Place:
        """Where ``request`` comes from: its client's policy, the end user's
        address, the cache scopes that apply and the station a remembered
        device is looked up by. It depends only on the client's policy, the
        station and the cache rules: kept by client and station for as long
        as the client's policy is the same object (clients.conf reloaded: a
        new one) and the settings are (use_settings)."""
        client = self.policies.policy_for(request.client)
        station = exemptions.user_address(request, client.user_ip_attribute)
        key = (request.client, station)
        known = self._places.get(key)
        if known is not None and known.policy is client:
            return known
        scopes = exemptions.cache_scopes(self.mfa.cache, client=request.client, station=station)
        made = Place(client, station, scopes, tuple(scopes), station if client.remember_days else "")
        if len(self._places) >= PLACES_KEPT:
            self._places.clear()
        self._places[key] = made
        return made

    def login_view(
        self, request: AuthRequest, name: str, *, now: datetime, place: Place | None = None
    ) -> Awaitable[tuple[User | None, list[Token], ExemptionView]]:
        """The user, their tokens and what exempt() will ask the store about
        them, in one read (the exemptions are as they were before the
        password check: a bypass is still consumed atomically, and an admin's
        change lands on the next login). The store's own awaitable: no
        coroutine of its own in between, on every login."""
        if place is None:
            place = self.place(request)
        return self.store.login_exemption_view(
            name, scopes=place.scope_names, station=place.remembered_station, client=request.client, now=now
        )

    @staticmethod
    def _stored_exemption(
        place: Place, state: UserState, view: ExemptionView, *, bypass_open: bool, now: datetime
    ) -> Rule | None:
        """exempt()'s rule once the store's answers are in (the user's state
        and the trusted networks decided nothing)."""
        # Nothing stored (no cache time, no remembered device): no window to work out.
        return exemptions.exemption(
            state=state,
            trusted=False,
            bypass_open=bypass_open,
            cached=bool(place.scopes) and bool(view.cache) and exemptions.cache_hit(place.scopes, view.cache, now=now),
            device_remembered=view.remembered_at is not None
            and exemptions.remembered(place.policy, view.remembered_at, now=now),
        )

    def new_user(self, state: UserState, attrs: tuple[Attr, ...]) -> Decision:
        """A user with no factor yet: [mfa] new_user for an enabled user;
        an enforced one (MFA always) is turned away."""
        if state is not UserState.ENABLED:
            return reject("no factor enrolled", self.mfa.no_factor_message)
        if self.mfa.new_user == "allow":
            return Decision(Verdict.ACCEPT, f"{Rule.NEW_USER}: password only until enrolled", "none", attrs)
        if self.mfa.new_user == "deny":
            return reject(f"{Rule.NEW_USER}: no factor enrolled")
        return reject(f"{Rule.NEW_USER}: no factor enrolled", self.mfa.no_factor_message)

    async def succeeded(self, request: AuthRequest, user: User, *, now: datetime, recorded: bool = False) -> None:
        """Every accept after a verified second factor calls this, and nothing
        else does: it feeds the cache and remembered devices, and clears the
        lockout count (an exemption never refreshes an exemption). ``recorded``:
        the code's check already wrote success_record() with its step."""
        if recorded:
            return
        success = self.success_record(request, user, now=now)
        await self.store.record_mfa_success(
            success.user_id,
            scopes=success.scopes,
            station=success.station,
            client=success.client,
            now=now,
        )

    def success_record(
        self, request: AuthRequest, user: User, *, now: datetime, place: Place | None = None
    ) -> MfaSuccess:
        """What succeeded() writes for this login, for a code check to write
        with the code's step (OtpFactor.verify's ``success``)."""
        if place is None:
            place = self.place(request)
        return MfaSuccess(user.id, place.scope_names, place.remembered_station, request.client, now)

    async def failed(self, user: User, *, now: datetime) -> bool:
        """Count a second-factor failure; True when it blocks the user."""
        return await self.lockout.failed(user, now=now)
