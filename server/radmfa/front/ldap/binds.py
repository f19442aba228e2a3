"""What a bind gets: the password and second factor for a user, as for RADIUS.

  no TLS off loopback   confidentialityRequired (13), nothing checked
  anonymous             allowed by [ldap_front] allow_anonymous, else 48
  DN, no password       an unauthenticated bind (RFC 4513 §5.1.2): 53
  service_binds         the directory checks the password; no second factor
  a user                the pipeline, exactly as a RADIUS Access-Request
                        (blocked, app password, the directory's password
                        check, the admin's controls, inline code or a held
                        push or call), then the user's own bind for the
                        operations that follow; or a rebind (rebind.py)

The user's own bind uses the password the directory knows: a bind password
``password,123456`` carried an inline code, split off by the same rule the
pipeline applies (core.policy.split_inline with the user's code lengths).

Every refusal of a user or service bind is invalidCredentials (49), with no
text saying which part failed; when no verdict was reached (the directory or
the store failed) the answer is unavailable (52), which says nothing about
the credentials and lets the application try another radmfa node. One audit
row per bind, the client named as the NAS of RADIUS rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from radmfa.config import LdapFrontClient, LdapFrontConfig, MfaConfig
from radmfa.core import exemptions, policy
from radmfa.core.challenge import reject
from radmfa.core.exemptions import Rule
from radmfa.core.model import AuditRecord, AuthRequest, Decision, Token, User, UserState, Verdict
from radmfa.core.policy import name_key
from radmfa.core.ports import FIXED_DEADLINE, Decider
from radmfa.front.ldap import names, protocol
from radmfa.front.ldap.directory import Directory, DirectoryError, Link
from radmfa.front.ldap.lookup import Resolver
from radmfa.front.ldap.names import Identity
from radmfa.front.ldap.protocol import Bind
from radmfa.front.ldap.rebind import KeyedStore, Rebinds
from radmfa.service.audit import AuditSink, log


class BindStore(KeyedStore, Protocol):
    async def login_view(self, username: str) -> tuple[User | None, list[Token]]: ...


@dataclass(frozen=True, slots=True)
class Peer:
    """The client end of one connection."""

    client: LdapFrontClient
    ip: str
    local_ip: str  # the address it connected to (audit server_ip)
    tls: bool
    loopback: bool


# Who a session is after a bind: "none" (no bind, or a failed one: anonymous
# rules apply), or what the last successful bind was.
Kind = Literal["none", "anonymous", "user", "service", "app-password"]


@dataclass(frozen=True, slots=True)
class Bound:
    """The bind's result code and what operations may use after it."""

    code: int
    kind: Kind = "none"
    link: Link | None = None  # a directory connection bound as this identity


class Binder:
    def __init__(
        self,
        cfg: LdapFrontConfig,
        mfa: MfaConfig,
        *,
        pipeline: Decider,
        store: BindStore,
        resolver: Resolver,
        directory: Directory,
        audit: AuditSink,
    ) -> None:
        self.cfg, self.mfa = cfg, mfa
        self._delimiter = mfa.inline_delimiter.encode("utf-8")
        self.pipeline, self.store, self.resolver, self.directory, self.audit = (
            pipeline, store, resolver, directory, audit
        )
        self.rebinds = Rebinds(store, cfg.rebind_seconds)
        self.service = {names.key(dn) for dn in cfg.service_binds}
        self._ids = itertools.count(1)
        self._prefix = f"ldap-{os.getpid():x}"

    async def bind(self, peer: Peer, bind: Bind) -> Bound:
        started = time.perf_counter()
        request_id = f"{self._prefix}-{next(self._ids):x}"
        name, bound, decision = bind.name, Bound(protocol.INVALID_CREDENTIALS), reject("")
        if bind.version != 3:
            bound, decision = Bound(protocol.PROTOCOL_ERROR), reject(f"LDAP version {bind.version}")
        elif bind.method != "simple":
            bound, decision = Bound(protocol.AUTH_METHOD_NOT_SUPPORTED), reject(f"{bind.method} bind not offered")
        elif not peer.tls and not peer.loopback:
            bound, decision = Bound(protocol.CONFIDENTIALITY_REQUIRED), reject("bind without TLS")
        elif not bind.name and not bind.password:
            bound, decision = self._anonymous()
        elif not bind.password:  # RFC 4513 §5.1.2: would be "unauthenticated", i.e. anonymous
            bound, decision = Bound(protocol.UNWILLING_TO_PERFORM), reject("unauthenticated bind (no password)")
        elif names.key(bind.name) in self.service:
            bound, decision = await self._service(bind)
        else:
            try:
                name, bound, decision = await self._user(peer, bind, request_id)
            except asyncio.CancelledError:  # the client left while its push or call was held
                gone = reject("client closed the connection before the decision")
                self._audit(peer, request_id, name, gone, protocol.INVALID_CREDENTIALS, started)
                raise
            except Exception as e:  # fail closed, keep serving
                log.error("internal error", request_id=request_id, error=repr(e))
                bound, decision = Bound(protocol.UNAVAILABLE), reject("internal error", backend_failure=True)
        self._audit(peer, request_id, name, decision, bound.code, started)
        return bound

    def _anonymous(self) -> tuple[Bound, Decision]:
        if self.cfg.allow_anonymous:
            return Bound(protocol.SUCCESS, "anonymous"), Decision(Verdict.ACCEPT, "anonymous bind", "none")
        return Bound(protocol.INAPPROPRIATE_AUTHENTICATION), reject("anonymous bind not allowed")

    async def _service(self, bind: Bind) -> tuple[Bound, Decision]:
        try:
            code, link = await self.directory.bind(bind.name, bind.password)
        except DirectoryError as e:
            log.warning("ldap front: directory unavailable", error=str(e))
            return Bound(protocol.UNAVAILABLE), reject("directory unavailable", backend_failure=True)
        if link is None:
            return Bound(protocol.INVALID_CREDENTIALS), reject(f"service bind refused (LDAP result {code})")
        return Bound(protocol.SUCCESS, "service", link), Decision(Verdict.ACCEPT, "service bind", "none")

    async def _user(self, peer: Peer, bind: Bind, request_id: str) -> tuple[str, Bound, Decision]:
        refused = Bound(protocol.INVALID_CREDENTIALS)
        try:
            # The application gives up after its own timeout: a push or call
            # not answered by then is refused (the user's own bind after the
            # decision is bounded by the upstream's timeout_s).
            async with asyncio.timeout(peer.client.bind_timeout_s):
                found = await self._decide(peer, bind, request_id)
        except TimeoutError:
            return bind.name, refused, reject(f"no decision within {peer.client.bind_timeout_s:g} s")
        if isinstance(found, Decision):
            return bind.name, refused, found
        who, decision, reused = found
        user_key, client, now = name_key(who.name), peer.client.name, datetime.now(UTC)
        if reused:
            return who.name, *await self._rebind(who, bind, decision, user_key, client, now=now)
        if decision.verdict is not Verdict.ACCEPT:
            if decision.backend_failure:  # no verdict on the user
                return who.name, Bound(protocol.UNAVAILABLE), decision
            await self.rebinds.forget(user_key, client)
            return who.name, refused, decision
        if decision.reason == Rule.APP_PASSWORD.value:
            # The directory does not know an app password: the connection has
            # no directory identity, and its operations are refused.
            return who.name, Bound(protocol.SUCCESS, "app-password"), decision
        bound, decision = await self._own_bind(who, bind, decision)
        if bound.code == protocol.SUCCESS:
            await self.rebinds.remember(user_key, client, who.dn, bind.password, now=now)
        return who.name, bound, decision

    async def _decide(self, peer: Peer, bind: Bind, request_id: str) -> tuple[Identity, Decision, bool] | Decision:
        """(who, the pipeline's decision, False), or (who, an accept, True)
        for a rebind, or the refusal of a bind name that names nobody."""
        who = await self.resolver.resolve(bind.name)
        if who is None:
            return reject("bind name names no user")
        user_key, client, now = name_key(who.name), peer.client.name, datetime.now(UTC)
        if await self.rebinds.completed(user_key, client, who.dn, bind.password, now=now):
            return who, Decision(Verdict.ACCEPT, f"rebind within {self.cfg.rebind_seconds} s", "none"), True
        request = AuthRequest(
            request_id=request_id,
            client=client,
            client_ip=peer.ip,
            username=who.name.encode("utf-8"),
            password=bind.password,
            state=None,
            calling_station_id=peer.ip,
            authenticator=bytes(16),
            attrs=(),
        )
        # bind_timeout_s bounds the whole bind (bind above): a held call or push cannot move it.
        decision = await self.pipeline.handle(request, now=now, deadline=FIXED_DEADLINE)
        if decision.verdict is Verdict.CHALLENGE:  # LDAP has no challenge: a code comes inline or not at all
            decision = replace(decision, verdict=Verdict.REJECT, reason=f"{decision.reason} (no challenge in LDAP)")
        return who, decision, False

    async def _own_bind(self, who: Identity, bind: Bind, decision: Decision) -> tuple[Bound, Decision]:
        """The user's own bind for the operations that follow: the directory
        checks the very DN the client named (the pipeline checked the name)."""
        try:
            code, link = await self.directory.bind(who.dn, await self._directory_password(who, bind.password))
        except DirectoryError as e:
            log.warning("ldap front: directory unavailable", error=str(e))
            down = replace(decision, verdict=Verdict.REJECT, reason="directory unavailable", backend_failure=True)
            return Bound(protocol.UNAVAILABLE), down
        if link is None:
            return Bound(protocol.INVALID_CREDENTIALS), replace(
                decision, verdict=Verdict.REJECT, reason=f"directory refused the user's bind (LDAP result {code})"
            )
        return Bound(protocol.SUCCESS, "user", link), decision

    async def _directory_password(self, who: Identity, password: bytes) -> bytes:
        if not self.mfa.inline or self._delimiter not in password:
            return password
        _, tokens = await self.store.login_view(who.name)
        split = policy.split_inline(password, self._delimiter, (t.digits for t in tokens))
        return split[0] if split is not None else password

    async def _rebind(
        self, who: Identity, bind: Bind, accepted: Decision, user_key: str, client: str, *, now: datetime
    ) -> tuple[Bound, Decision]:
        """The password is checked again (the user's own bind); a block set
        meanwhile (lockout, fraud report, an admin) still refuses."""
        user, _ = await self.store.login_view(who.name)
        refusal = None
        if user is None and self.mfa.unknown_users == "reject":  # deleted meanwhile
            refusal = reject("unknown user")
        elif user is not None and exemptions.effective_state(user, now=now) is UserState.BLOCKED:
            refusal = reject(exemptions.block_rule(user))
        if refusal is not None:
            await self.rebinds.forget(user_key, client)
            return Bound(protocol.INVALID_CREDENTIALS), refusal
        bound, decision = await self._own_bind(who, bind, replace(accepted, user=user))
        if bound.code != protocol.SUCCESS:
            await self.rebinds.forget(user_key, client)
        return bound, decision

    def _audit(self, peer: Peer, request_id: str, name: str, decision: Decision, code: int, started: float) -> None:
        settings = self.audit.settings
        user = decision.user
        names_ok = user is not None and settings.record_names
        self.audit.record(
            AuditRecord(
                time=datetime.now(UTC),
                request_id=request_id,
                client_name=peer.client.name,
                client_ip=peer.ip,
                username=name,
                calling_station_id=peer.ip,
                factor=decision.factor,
                result="accept" if code == protocol.SUCCESS else "reject",
                reason=decision.reason,
                duration_ms=(time.perf_counter() - started) * 1000.0,
                first_name=(user.first_name or "") if names_ok and user else "",
                last_name=(user.last_name or "") if names_ok and user else "",
                email=(user.email or "") if user is not None and settings.record_email else "",
                phone=decision.phone,
                device=decision.device,
                user_ip=peer.ip,
                server_name=settings.server_name,
                server_ip=settings.server_ip or peer.local_ip,
            ),
            front="ldap",
            ldap_result=code,
        )
