"""The NAS-facing accounting listener (RFC 2866): verify, record, forward, answer.

For every datagram on ``[radius] accounting_listen``, and every
Accounting-Request on a RadSec connection (service/radsec.py): known source → framing
(Accounting-Request only) → Request Authenticator (and Message-Authenticator
when present) with the client's secret → duplicate cache. What fails is
dropped silently and counted, like the authentication listener.

A new request is recorded in the store (store/sql_nas_sessions.py: who is
connected where), then forwarded to the client's upstream's accounting
servers (upstream/accounting.py) when it has some, and only then answered
with an Accounting-Response signed with the client's secret, every
Proxy-State echoed. RFC 2866 §2: no answer unless the record is kept, so a
store or upstream failure leaves the NAS to retransmit or fail over. A
retransmission of a request answered within ``duplicate_window_s`` gets the
same reply bytes and is neither recorded nor forwarded again; one still in
progress is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from radmfa.config import Config, RadiusConfig
from radmfa.core.admin_ports import NasSessionStore
from radmfa.core.ports import ClientPolicies
from radmfa.errors import UpstreamUnavailable
from radmfa.radius import accounting, wire
from radmfa.radius.clients import Client, ClientTable
from radmfa.radius.dedup import DedupCache, Seen
from radmfa.service.audit import log
from radmfa.service.radius import Addr, Transport
from radmfa.service.warnings import Throttle
from radmfa.upstream.accounting import AccountingUpstream, accounting_upstream

_CODES = frozenset((wire.ACCOUNTING_REQUEST,))


class AccountingService:
    """Shared by every accounting socket of one process."""

    def __init__(
        self,
        cfg: RadiusConfig,
        clients: Callable[[], ClientTable],
        store: NasSessionStore,
        upstreams: Mapping[str, AccountingUpstream],
        policies: ClientPolicies,
    ) -> None:
        """``clients``: the current clients.conf table (it changes on SIGHUP);
        ``upstreams``: by upstream name ("default" = [upstream]), only those
        with accounting_servers; a client whose upstream has none is answered
        by radmfa itself once recorded."""
        self.cfg = cfg
        self.clients = clients
        self.store = store
        self.upstreams = dict(upstreams)
        self.policies = policies
        self.dropped: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.warnings = Throttle(interval_s=60.0, per_interval=20)
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = False

    def drop(self, reason: str, client: str = "", ip: str = "") -> None:
        self.dropped[reason] += 1
        if reason in ("unknown_client", "bad_authenticator"):
            self.warnings.warning(log, "accounting packet dropped", reason=reason, client=client, client_ip=ip,
                                  now=time.monotonic(), count=self.dropped[reason])

    def counters(self) -> dict[str, Any]:
        return {"answered": dict(self.answered), "dropped": dict(self.dropped), "in_flight": len(self._tasks)}

    def receive(
        self, data: bytes, addr: Addr, transport: Transport, dedup: DedupCache, client: Client | None = None
    ) -> None:
        """``client``: who sent it when the transport has said (a RadSec
        connection, with its RadSec secret); else the clients.conf entry for
        the source address."""
        if self.stopping:
            return self.drop("shutting_down")
        if client is None:
            client = self.clients().match(addr[0])
            if client is None:
                return self.drop("unknown_client", ip=addr[0])
        now = time.monotonic()
        if len(data) >= wire.MIN_LEN:
            replay = dedup.replay((addr[0], addr[1], data[1]), data, now=now)
            if replay is not None:
                return self._duplicate(replay, addr, transport)
        try:
            frame = wire.parse(data, _CODES)
        except wire.Malformed as e:
            return self.drop(e.reason, client.name)
        if not accounting.verify_request(frame, client.secret):
            return self.drop("bad_authenticator", client.name, addr[0])  # RFC 2866 §3: silently discard
        key = (addr[0], addr[1], frame.ident)
        seen = dedup.seen(key, frame.authenticator, now=now, request=frame.data)
        if seen[0] is Seen.FULL:
            return self.drop("table_full", client.name)
        if seen[0] is not Seen.NEW:
            return self._duplicate(seen, addr, transport)
        task = asyncio.get_running_loop().create_task(self._process(frame, client, addr, transport, dedup))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _duplicate(self, seen: tuple[Seen, bytes | None], addr: Addr, transport: Transport) -> None:
        if seen[1] is None:
            return self.drop("duplicate_pending")
        self.answered["duplicate_resent"] += 1
        transport.sendto(seen[1], addr)  # the same bytes; never recorded or forwarded twice

    async def _process(
        self, frame: wire.Frame, client: Client, addr: Addr, transport: Transport, dedup: DedupCache
    ) -> None:
        key = (addr[0], addr[1], frame.ident)
        event = accounting.accounting_event(frame)
        if event is None:
            dedup.forget(key, frame.authenticator)
            return self.drop("no_status_type", client.name)
        upstream = self.upstreams.get(self.policies.policy_for(client.name).upstream)
        try:
            async with asyncio.timeout(self.cfg.request_timeout_s):
                await self.store.record_accounting(client.name, addr[0], event, now=datetime.now(UTC))
                server = await upstream.forward(frame) if upstream is not None else "local"
        except (UpstreamUnavailable, TimeoutError) as e:
            dedup.forget(key, frame.authenticator)  # no answer: the NAS retransmits or fails over
            self.warnings.warning(log, "accounting not forwarded", reason="upstream_unavailable",
                                  error=str(e) or "timed out", client=client.name, now=time.monotonic())
            return self.drop("upstream_unavailable", client.name)
        except Exception as e:  # the store refused or is down: not recorded, so not answered
            dedup.forget(key, frame.authenticator)
            self.warnings.warning(log, "accounting not recorded", reason="store_failed", error=str(e),
                                  client=client.name, now=time.monotonic())
            return self.drop("store_failed", client.name)
        attrs = [(t, v) for t, v in frame.attrs if t == wire.PROXY_STATE]  # every one, in order (PROXY-1)
        reply = accounting.sign_response(frame.ident, frame.authenticator, wire.encode_attrs(attrs), client.secret,
                                         message_authenticator=frame.ma_offset >= 0)  # in kind: see sign_response
        dedup.answered(key, frame.authenticator, reply, now=time.monotonic())
        transport.sendto(reply, addr)
        self.answered[event.status_name] += 1
        log.info("accounting", client=client.name, user=event.username, status=event.status_name,
                 session=event.session_id, framed_ip=event.framed_ip, upstream=server)

    async def start(self) -> None:
        """Resolve the accounting servers' names (ConfigError when one fails)."""
        for upstream in self.upstreams.values():
            await upstream.start()

    async def drain(self, timeout_s: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def close(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.close()


def build_accounting(
    config: Config, clients: Callable[[], ClientTable], store: NasSessionStore, policies: ClientPolicies
) -> AccountingService | None:
    """The accounting service, or None with ``accounting_listen = []`` and no
    RadSec listener (RFC 6614 carries accounting on the RadSec connection)."""
    if not config.radius.accounting_listen and not config.radius.radsec_listen:
        return None
    named = {"default": config.upstream, **config.upstreams}
    upstreams = {name: accounting_upstream(u) for name, u in named.items() if u.accounting_servers}
    return AccountingService(config.radius, clients, store, upstreams, policies)


class AccountingListener:
    """One accounting socket and its duplicate cache."""

    def __init__(self, service: AccountingService) -> None:
        self.service = service
        self.dedup = DedupCache(service.cfg.duplicate_window_s, max_entries=service.cfg.max_pending)
        self.transport: Transport | None = None

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        assert self.transport is not None
        self.service.receive(data, addr, self.transport, self.dedup)
