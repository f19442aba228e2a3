"""The NAS-facing UDP listener: validate, dedup, spawn a task, send bytes.

Order of checks for every datagram (checklist §1, §3, PKT-10): known source
→ framing → code → BlastRADIUS flags and Message-Authenticator → duplicate
cache → the client's fair share (fairness.py) → only then User-Password and
the pipeline. Anything that fails is dropped silently and counted (per reason,
and per client when the client is known); the loop never blocks and never raises.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from radmfa import metrics
from radmfa.config import RadiusConfig
from radmfa.core import policy
from radmfa.core.model import AuditRecord, AuthRequest, Decision, Verdict
from radmfa.core.ports import ClientPolicies, Decider
from radmfa.errors import StoreError
from radmfa.radius import crypto, packet, wire
from radmfa.radius.blast import BlastGuard
from radmfa.radius.clients import Client, ClientTable
from radmfa.radius.dedup import DedupCache, Key, Seen
from radmfa.service.audit import AuditSink, log, recorded_device, recorded_phone
from radmfa.service.fairness import Admission, FairShare
from radmfa.service.flights import Flight, Flights
from radmfa.service.warnings import Throttle

ACCEPTED_CODES = frozenset((wire.ACCESS_REQUEST, wire.STATUS_SERVER))
WARN_INTERVAL_S = 60.0
WARN_PER_MINUTE = 20
UNHEALTHY_AFTER_FAILURE_S = 10.0
STORE_LOG_INTERVAL_S = 10.0
# Keyed by Verdict's value: an Enum member hashes through a Python-level
# __hash__, its ``_value_`` is a plain attribute (read once per request).
_VERDICT_CODE = {
    Verdict.ACCEPT.value: wire.ACCESS_ACCEPT,
    Verdict.REJECT.value: wire.ACCESS_REJECT,
    Verdict.CHALLENGE.value: wire.ACCESS_CHALLENGE,
}
_CODE_NAME = {"accept": "access_accept", "reject": "access_reject", "challenge": "access_challenge"}  # else "none"
Addr = tuple[str, int]


class Tally(Counter[str]):
    """A Counter whose increments cost a dict's. Counter's own ``__delitem__``
    (which ignores a missing key) makes every item assignment go through a
    Python-level slot, twice the cost of ``+= 1`` on a dict; a retransmission
    storm counts each copy it drops or answers again."""

    __delitem__ = dict.__delitem__  # type: ignore[assignment]


class Transport(Protocol):
    """Where replies go: the socket a request came in on (udp.UdpEndpoint),
    or a RadSec connection. Weakly referenceable (a plain class, not slotted)."""

    def sendto(self, data: bytes, addr: Addr) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


_Job = tuple[wire.Frame, Client, Addr, Transport, DedupCache, Key]  # Key: the duplicate cache's
_SERVER_IPS_KEPT = 1024  # transports whose local address is remembered (RadSec connections come and go)
_USER_IPS_KEPT = 8192  # end-user addresses remembered as parsed
# A NamedTuple's __new__ is a Python function of its 18 fields; the tuple
# itself, every field given in order, is the same value without that frame.
_new_record = tuple.__new__
# Enum members compared against on every request, as globals (core/model.py says why).
_RUN, _REJECT, _NEW = Admission.RUN, Verdict.REJECT, Seen.NEW
# The attribute types _request looks for, as globals (not wire's attributes, read per attribute).
_USER_NAME, _USER_PASSWORD, _STATE, _CALLING_STATION_ID = (
    wire.USER_NAME, wire.USER_PASSWORD, wire.STATE, wire.CALLING_STATION_ID)
_USER_IP_TYPES = {"Framed-IP-Address": wire.FRAMED_IP_ADDRESS, "Calling-Station-Id": wire.CALLING_STATION_ID}


class RadiusService:
    """Shared by every listening socket of one process."""

    def __init__(
        self,
        cfg: RadiusConfig,
        clients: ClientTable,
        pipeline: Decider,
        audit: AuditSink,
        *,
        policies: ClientPolicies,
        upstream_healthy: Callable[[], bool],
    ) -> None:
        """``policies``: [clients.<name>] (the audit's user address);
        ``upstream_healthy``: False while every upstream server is marked dead."""
        self.cfg = cfg
        self.clients = clients
        self.pipeline = pipeline
        self.audit = audit
        self.policies = policies
        self.upstream_healthy = upstream_healthy
        self.dropped: Counter[str] = Tally()
        self.dropped_by_client: dict[str, Counter[str]] = {}  # client name -> reason -> count
        self.answered: Counter[str] = Tally()
        self.share: FairShare[_Job] = FairShare(cfg.max_active, cfg.client_max_requests)
        self.flights = Flights(self.share, self._process, _client_name, lambda: self.cfg.request_timeout_s)
        self._backend_failed_at = -UNHEALTHY_AFTER_FAILURE_S
        self._store_failures = 0  # requests failed by the store since it last worked
        self._store_logged_at = -STORE_LOG_INTERVAL_S
        self.blast = BlastGuard()  # what each client's first packet decided (BLAST-4)
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}"
        self.started = time.monotonic()
        self.stopping = False
        self.warnings = Throttle(interval_s=WARN_INTERVAL_S, per_interval=WARN_PER_MINUTE)
        self.node_ip = ""  # this host's address, for audit rows of wildcard listeners (app.py)
        # getsockname is a system call: once per transport. By id, with a weak
        # reference that tells a reused id from the transport it was taken for:
        # an ended RadSec connection (its TLS buffers) is not kept alive here.
        self._server_ips: dict[int, tuple[weakref.ref[Transport], str]] = {}
        self._user_ips: dict[tuple[int, bytes], str] = {}  # (attribute type, value) -> policy.user_ip

    def reload_clients(self, clients: ClientTable) -> None:
        """In-flight requests keep the Client they started with."""
        self.clients = clients
        self.blast = BlastGuard()

    # ---- receive path (synchronous, cheap) ----

    def drop(self, reason: str, client: str = "") -> None:
        self.dropped[reason] += 1
        metrics.current.dropped(reason, client)
        if client:
            try:
                self.dropped_by_client[client][reason] += 1
            except KeyError:  # the client's first drop
                self.dropped_by_client[client] = Tally((reason,))

    def counters(self) -> dict[str, Any]:
        """What the stats and stopped log lines report."""
        return {
            "answered": dict(self.answered),
            "dropped": dict(self.dropped),
            "dropped_by_client": {name: dict(reasons) for name, reasons in self.dropped_by_client.items()},
            "in_flight": len(self.flights),
            "waiting": self.share.waiting(),
        }

    def _warn(self, reason: str, client: str, ip: str) -> None:
        """Log a security-relevant drop (BLAST-7) without letting a flood fill
        the disk: once a minute per source and reason, WARN_PER_MINUTE lines
        per reason whatever the sources (service/warnings.py). A flood's
        packets mostly stop at ``admit``: nothing else is built for them."""
        suppressed = self.warnings.admit(reason, ip, now=time.monotonic())
        if suppressed is not None:
            log.warning("packet dropped", reason=reason, client=client, client_ip=ip,
                        count=self.dropped[reason] + 1, suppressed=suppressed)

    def receive(
        self, data: bytes, addr: Addr, transport: Transport, dedup: DedupCache, client: Client | None = None
    ) -> None:
        """``client``: who sent it when the transport has said (RadSec's
        certificate); else the clients.conf entry for the source address."""
        if self.stopping:
            return self.drop("shutting_down")
        if client is None:
            client = self.clients.match(addr[0])
            if client is None:
                self._warn("unknown_client", "", addr[0])
                return self.drop("unknown_client")  # RFC 2865 §2 (CLI-1)
        if len(data) < wire.MIN_LEN:
            return self.drop("short_datagram", client.name)  # PKT-1 (as wire.parse says)
        now = time.monotonic()
        key = (addr[0], addr[1], data[1])  # the duplicate cache's, built once: data[1] is the Identifier
        # A retransmission storm stops here: a dict lookup and a memcmp a copy.
        replay = dedup.replay(key, data, now)
        if replay is not None:
            if replay[1] is None:
                return self.drop("duplicate_pending", client.name)  # RFC 5080 §2.2.2 (DUP-2)
            self.answered["duplicate_resent"] += 1
            return transport.sendto(replay[1], addr)  # the same bytes, never reprocessed (DUP-3)
        name = client.name
        if data[0] == wire.ACCESS_REQUEST and self.share.at_limit(name):
            # Shed a busy client's new work before parsing and verifying it:
            # a flood must cost as little as possible. Only requests that
            # passed the client's checks below (its Message-Authenticator)
            # count against its budget: forged packets cannot fill it.
            return self._busy(client, addr)
        try:
            frame = wire.parse(data, ACCEPTED_CODES)
        except wire.Malformed as e:
            return self.drop(e.reason, name)
        reason = self.blast.screen(frame, client)
        if reason:
            self._warn(reason, name, addr[0])
            return self.drop(reason, name)
        if frame.code == wire.STATUS_SERVER:
            if self.cfg.on_backend_failure == "drop" and not self.healthy():
                # RFC 5997 §4.2 (SS-3): let the NAS fail over
                return self.drop("status_server_unhealthy", name)
            return transport.sendto(self._status_reply(frame, client), addr)
        seen = dedup.seen(key, frame.authenticator, now, frame.data)
        # The kind, not the tuple's identity: compiled (mypyc), a tuple a
        # function returns is a fresh object, never dedup.NEW itself.
        if seen[0] is not _NEW:
            if seen[0] is Seen.FULL:
                return self.drop("table_full", name)  # DUP-6: bounded; shed new work
            return self._duplicate(seen, addr, transport, client)
        job = (frame, client, addr, transport, dedup, key)
        admission = self.share.offer(name, job)
        if admission is _RUN:
            return self.flights.start(job, name, now + self.cfg.request_timeout_s)
        if admission is Admission.REFUSED:
            # Forgotten, so a retransmission is a new request once there is room.
            dedup.forget(key, frame.authenticator)
            return self._busy(client, addr)

    def _busy(self, client: Client, addr: Addr) -> None:
        """The client has client_max_requests in radmfa already: shed its new
        work, not everyone's (fairness.py)."""
        self._warn("client_busy", client.name, addr[0])
        self.drop("client_busy", client.name)

    def _duplicate(
        self, seen: tuple[Seen, bytes | None], addr: Addr, transport: Transport, client: Client
    ) -> None:
        if seen[1] is None:
            return self.drop("duplicate_pending", client.name)  # RFC 5080 §2.2.2 (DUP-2)
        self.answered["duplicate_resent"] += 1
        transport.sendto(seen[1], addr)  # the same bytes, never reprocessed (DUP-3)

    def _status_reply(self, frame: wire.Frame, client: Client) -> bytes:
        """RFC 5997 §3: Access-Accept, never proxied, no side effects (SS-2, SS-3)."""
        self.answered["status_server"] += 1
        uptime = int(time.monotonic() - self.started)
        attrs = packet.reply_messages(f"radmfa up {uptime} s")
        return self._sign(wire.ACCESS_ACCEPT, frame, client, attrs)

    def _sign(self, code: int, frame: wire.Frame, client: Client, attrs: Sequence[wire.Attr]) -> bytes:
        if attrs and packet.needs_concealing(attrs):
            attrs = packet.conceal(attrs, client.secret, frame.authenticator)
        if frame.proxy_states:
            # PROXY-1: every Proxy-State, unmodified and in order, in every response.
            attrs = [*attrs, *[(t, v) for t, v in frame.attrs if t == wire.PROXY_STATE]]
        encoded = wire.encode_attrs(attrs) if attrs else b""  # most replies: nothing but the MA
        return crypto.sign_response(code, frame.ident, frame.authenticator, encoded, client.secret)

    # ---- processing (a task per request) ----

    async def _process(self, job: _Job, flight: Flight) -> None:
        """``flight``: this request's deadline and fair share (flights.py)."""
        started = time.perf_counter()
        frame, client, addr, transport, dedup, key = job
        request = self._request(frame, client, addr)
        if request is None:
            dedup.forget(key, frame.authenticator)
            return self.drop("bad_user_password", client.name)
        try:  # a request held for a call or push moves its own deadline (flights.py)
            decision = await self.pipeline.handle(request, now=datetime.now(UTC), deadline=flight)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or not self.flights.timed_out(task):
                raise
            task.uncancel()  # cancelled by the watchdog, not by shutdown
            log.error("request timed out", request_id=request.request_id)
            decision = Decision(Verdict.REJECT, "internal timeout", backend_failure=True)
        except Exception as e:  # fail closed, keep serving
            decision = self._failed(request, e)
        else:
            if self._store_failures:
                self._store_back()
        self.flights.leave(flight)  # a reject delay below is no work: give back the slot and the budget
        if decision.backend_failure:
            self._backend_failed_at = time.monotonic()
            if self.cfg.on_backend_failure == "drop":
                # No verdict on the user: stay silent so the NAS retries or fails
                # over to another radmfa node (a Reject would read "wrong password").
                dedup.forget(key, frame.authenticator)
                self.drop("backend_failure", client.name)
                return self._audit(request, client, addr, transport, decision, started, "drop")
        verdict = decision.verdict
        if verdict is _REJECT and decision.local and self.cfg.reject_delay_s:
            # Delay rejects we originate (OPS-1), never relayed ones (PROXY-9).
            # Duplicates arriving meanwhile are still "pending" and dropped.
            await asyncio.sleep(self.cfg.reject_delay_s)
        result: str = verdict._value_
        reply = self._encode(frame, client, decision, result)
        dedup.answered(key, frame.authenticator, reply, time.monotonic())
        transport.sendto(reply, addr)
        self.answered[result] += 1
        self._audit(request, client, addr, transport, decision, started, result)

    def _failed(self, request: AuthRequest, error: Exception) -> Decision:
        """No verdict on the user is possible: Reject (or no answer, in drop mode)."""
        if type(error) is not StoreError:  # its subclasses are answers, not outages
            log.error("internal error", request_id=request.request_id, error=repr(error))
            return Decision(Verdict.REJECT, "internal error", backend_failure=True)
        # The store is down or refused the statement. Nothing is decided
        # without it (not even "unknown user"). One line per interval, not
        # one per request: an outage under load must not flood the log.
        self._store_failures += 1
        now = time.monotonic()
        if now - self._store_logged_at >= STORE_LOG_INTERVAL_S:
            self._store_logged_at = now
            log.error("store unavailable; failing closed", error=str(error), failed_requests=self._store_failures)
        return Decision(Verdict.REJECT, "store unavailable", backend_failure=True)

    def _store_back(self) -> None:
        log.warning("requests decided again after store failures", failed_requests=self._store_failures)
        self._store_failures = 0
        self._store_logged_at = -STORE_LOG_INTERVAL_S

    def _audit(
        self,
        request: AuthRequest,
        client: Client,
        addr: Addr,
        transport: Transport,
        decision: Decision,
        started: float,
        result: str,
    ) -> None:
        name = client.name
        metrics.current.answered(name, _CODE_NAME.get(result, "none"), decision.reason)
        settings = self.audit.settings
        user = decision.user
        if user is None:
            first = last = email = ""
        else:
            names = settings.record_names
            first = (user.first_name or "") if names else ""
            last = (user.last_name or "") if names else ""
            email = (user.email or "") if settings.record_email else ""
        phone, device = decision.phone, decision.device
        attribute = self.policies.policy_for(name).user_ip_attribute
        self.audit.record(
            _new_record(AuditRecord, (  # every field, in order: AuditRecord's __new__ without its Python frame
                datetime.now(UTC),  # time
                request.request_id,  # request_id
                name,  # client_name
                addr[0],  # client_ip
                policy.printable(request.username),  # username
                request.calling_station_id,  # calling_station_id
                decision.factor or "none",  # factor; rejected before any second factor
                result,  # result
                decision.reason,  # reason
                (time.perf_counter() - started) * 1000.0,  # duration_ms
                first,  # first_name
                last,  # last_name
                email,  # email
                recorded_phone(phone, settings) if phone else "",  # phone
                recorded_device(device, settings) if device else "",  # device
                addr[0] if attribute == "source" else self._user_ip(request.attrs, attribute, addr[0]),  # user_ip
                settings.server_name,  # server_name
                settings.server_ip or self._server_ip(transport),  # server_ip
            ))
        )

    def _user_ip(self, attrs: tuple[wire.Attr, ...], attribute: str, source: str) -> str:
        """policy.user_ip, remembered per attribute value: an address parsed
        by the ipaddress module costs more than the rest of the audit row."""
        wanted = _USER_IP_TYPES.get(attribute)
        if wanted is None:
            return policy.user_ip(attrs, attribute, source)
        for t, v in attrs:  # the first one: a loop, not a generator per row
            if t == wanted:
                key = (wanted, v)
                break
        else:
            return ""
        ip = self._user_ips.get(key)
        if ip is None:
            ip = policy.user_ip((key,), attribute, source)
            if len(self._user_ips) >= _USER_IPS_KEPT:
                self._user_ips.clear()
            self._user_ips[key] = ip
        return ip

    def _server_ip(self, transport: Transport) -> str:
        """The address the request came in on; this host's own for a wildcard listener."""
        known = self._server_ips.get(id(transport))
        if known is None or known[0]() is not transport:
            local = transport.get_extra_info("sockname")
            if len(self._server_ips) >= _SERVER_IPS_KEPT:
                self._server_ips.clear()
            known = self._server_ips[id(transport)] = (weakref.ref(transport), str(local[0]) if local else "")
        ip = known[1]
        return self.node_ip if ip in ("", "0.0.0.0", "::") else ip  # noqa: S104 (a comparison)

    def _request(self, frame: wire.Frame, client: Client, addr: Addr) -> AuthRequest | None:
        name = hidden = state = station = None
        for t, v in frame.attrs:  # each type's first value: fewer instructions than a dict of them
            if t == _USER_NAME:
                if name is None:
                    name = v
            elif t == _USER_PASSWORD:
                if hidden is None:
                    hidden = v
            elif t == _STATE:
                if state is None:
                    state = v
            elif t == _CALLING_STATION_ID and station is None:
                station = v
        password = None
        if hidden is not None:
            try:
                password = crypto.unhide_password(hidden, client.secret, frame.authenticator)
            except ValueError:
                return None  # PW-1: illegal length
        return AuthRequest(  # every field, in order: positional arguments are the cheapest
            f"{self._prefix}-{next(self._ids):x}",  # request_id
            client.name,  # client
            addr[0],  # client_ip
            name,  # username
            password,  # password
            state,  # state
            policy.printable(station) if station is not None else "",  # calling_station_id (printable(None))
            frame.authenticator,  # authenticator
            frame.attrs,  # attrs
        )

    def _encode(self, frame: wire.Frame, client: Client, decision: Decision, result: str) -> bytes:
        try:
            return self._sign(_VERDICT_CODE[result], frame, client, decision.attrs)  # a tuple: never changed in place
        except ValueError as e:  # e.g. upstream attributes would exceed 4096 octets
            log.error("cannot encode reply; rejecting", error=str(e))
            return self._sign(wire.ACCESS_REJECT, frame, client, [])

    def healthy(self) -> bool:
        """Can this node decide logins? Not while every upstream server is
        marked dead, nor for a while after the store or a request failed."""
        recent = time.monotonic() - self._backend_failed_at < UNHEALTHY_AFTER_FAILURE_S
        return self.upstream_healthy() and not recent

    async def watchdog(self, interval_s: float = 1.0) -> None:
        """Cancel requests past request_timeout_s (a hung store or peer)."""
        await self.flights.watchdog(interval_s)

    async def drain(self, timeout_s: float) -> None:
        """Wait for requests in flight and those waiting their turn (SIGTERM)."""
        await self.flights.drain(timeout_s)


def _client_name(job: _Job) -> str:
    return job[1].name


class Listener:
    """Glue between one socket and the service: the socket's duplicate cache."""

    def __init__(self, service: RadiusService) -> None:
        self.service = service
        self.dedup = DedupCache(service.cfg.duplicate_window_s, max_entries=service.cfg.max_pending)
        self.transport: Transport | None = None

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        assert self.transport is not None
        self.service.receive(data, addr, self.transport, self.dedup)
