"""Accounting-Requests forwarded to the upstream's accounting servers (RFC 2866).

The same client as authentication (upstream/radius.py): Identifiers per
source port, retransmissions of the same bytes, failover.py's order and dead
servers. What differs is the packet: the NAS's attributes pass through
byte-for-byte except Proxy-State (the NAS's copies are echoed by radmfa's
listener) and any Message-Authenticator (re-made for the upstream secret);
the Request Authenticator is the MD5 RFC 2866 §3 defines, not random; the
answer must be an Accounting-Response.
"""

from __future__ import annotations

from dataclasses import replace

from radmfa.config import UpstreamConfig
from radmfa.radius import accounting, wire
from radmfa.upstream.radius import RadiusUpstream

_NOT_FORWARDED = frozenset((wire.MESSAGE_AUTHENTICATOR, wire.PROXY_STATE))


class AccountingUpstream(RadiusUpstream):
    reply_codes = frozenset((wire.ACCOUNTING_RESPONSE,))

    def __init__(self, cfg: UpstreamConfig) -> None:
        super().__init__(
            replace(cfg, servers=cfg.accounting_servers, secret=cfg.accounting_secret,
                    require_message_authenticator=False)
        )

    def verify(self, frame: wire.Frame, authenticator: bytes) -> bool:
        return accounting.verify_response(frame, authenticator, self.secret)

    async def forward(self, frame: wire.Frame) -> str:
        """Send the NAS's Accounting-Request on; who answered. Raises
        UpstreamUnavailable when no accounting server answers."""
        attrs = wire.encode_attrs([(t, v) for t, v in frame.attrs if t not in _NOT_FORWARDED])
        with_ma = frame.ma_offset >= 0

        def packet(ident: int) -> tuple[bytes, bytes]:
            data = accounting.sign_request(
                wire.ACCOUNTING_REQUEST, ident, attrs, self.secret, message_authenticator=with_ma
            )
            return data, data[4:20]

        _, _, server = await self.exchange(packet)
        return server
