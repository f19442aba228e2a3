"""Accounting-Requests forwarded to the upstream's accounting servers (RFC 2866).

The same clients as authentication: over UDP (upstream/radius.py:
Identifiers per source port, retransmissions of the same bytes) or, with
``transport = "radsec"``, over TLS (upstream/radsec.py: RFC 6614 §2.1 has no
separate accounting port, so the servers take it on 2083), with failover.py's
order and dead servers either way. What differs is the packet: the NAS's
attributes pass through byte-for-byte except Proxy-State (the NAS's copies
are echoed by radmfa's listener) and any Message-Authenticator (re-made for
the upstream secret); the Request Authenticator is the MD5 RFC 2866 §3
defines, not random; the answer must be an Accounting-Response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from radmfa.config import UpstreamConfig
from radmfa.errors import UpstreamUnavailable
from radmfa.radius import accounting, crypto, wire
from radmfa.upstream.radius import RadiusUpstream
from radmfa.upstream.radsec import RadsecUpstream

_NOT_FORWARDED = frozenset((wire.MESSAGE_AUTHENTICATOR, wire.PROXY_STATE))


class AccountingUpstream(Protocol):
    """Where a client's Accounting-Requests go (service/accounting.py)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def forward(self, frame: wire.Frame) -> str: ...


def accounting_upstream(cfg: UpstreamConfig) -> AccountingUpstream:
    """The accounting client for ``cfg``'s accounting_servers, by its transport."""
    acct = replace(cfg, servers=cfg.accounting_servers, secret=cfg.accounting_secret,
                   require_message_authenticator=False)
    return RadsecAccountingUpstream(acct) if cfg.transport == "radsec" else UdpAccountingUpstream(acct)


def _packet(frame: wire.Frame, secret: bytes, *, with_ma: bool) -> Callable[[int], tuple[bytes, bytes]]:
    """The NAS's Accounting-Request re-signed for the upstream, given an Identifier."""
    attrs = wire.encode_attrs([(t, v) for t, v in frame.attrs if t not in _NOT_FORWARDED])

    def packet(ident: int) -> tuple[bytes, bytes]:
        data = accounting.sign_request(wire.ACCOUNTING_REQUEST, ident, attrs, secret, message_authenticator=with_ma)
        return data, data[4:20]

    return packet


class UdpAccountingUpstream(RadiusUpstream):
    reply_codes = frozenset((wire.ACCOUNTING_RESPONSE,))

    def verify(self, frame: wire.Frame, authenticator: bytes) -> bool:
        return accounting.verify_response(frame, authenticator, self.secret)

    async def forward(self, frame: wire.Frame) -> str:
        """Send the NAS's Accounting-Request on; who answered. Raises
        UpstreamUnavailable when no accounting server answers."""
        _, _, server = await self.exchange(_packet(frame, self.secret, with_ma=frame.ma_offset >= 0))
        return server


class RadsecAccountingUpstream(RadsecUpstream):
    # On the one RadSec port a Status-Server probe is answered with an
    # Access-Accept (RFC 5997 §3), an Accounting-Request with an
    # Accounting-Response: both are read, each verified its own way.
    reply_codes = frozenset((wire.ACCOUNTING_RESPONSE, wire.ACCESS_ACCEPT))

    def verify(self, frame: wire.Frame, authenticator: bytes) -> bool:
        if frame.code == wire.ACCOUNTING_RESPONSE:
            return accounting.verify_response(frame, authenticator, self.secret)
        return crypto.verify_response(frame.data, authenticator, self.secret, frame.ma_offset)

    async def forward(self, frame: wire.Frame) -> str:
        """As UdpAccountingUpstream.forward, over the TLS connections."""
        # No Message-Authenticator: TLS authenticates the packet, and no RFC
        # says how an Accounting-Request's is made (radsecproxy computes it
        # over the Request Authenticator, FreeRADIUS over zeros, and each drops
        # the other's).
        reply, _, server = await self.exchange(_packet(frame, self.secret, with_ma=False))
        if reply.code != wire.ACCOUNTING_RESPONSE:
            raise UpstreamUnavailable(f"{server} answered an Accounting-Request with Code {reply.code}",
                                      tried=(server,))
        return server
