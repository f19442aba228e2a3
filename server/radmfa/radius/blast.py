"""BlastRADIUS (CVE-2024-3596) and proxy-loop screening of a request,
before anything else reads it: Message-Authenticator verified when present
and required where the client's settings (or its first packet, for
"auto") say so; Proxy-State limited without it (checklist BLAST-2..5,
AUTH-3, PROXY-3). Pure: the listener drops what this names.
"""

from __future__ import annotations

from radmfa.radius import crypto, wire
from radmfa.radius.clients import Client

MAX_PROXY_STATES = 10  # more than this is a proxy loop (PROXY-3)


class BlastGuard:
    """The screening, and what each client's first packet decided for its
    "auto" settings (BLAST-4). A new one when clients.conf is reloaded."""

    def __init__(self) -> None:
        self._auto_ma: dict[str, bool] = {}
        self._auto_ps: dict[str, bool] = {}
        # Clients with nothing left to learn (both settings fixed), by name. The
        # entry is the Client itself: a RadSec connection's client has the
        # name of a UDP one and other settings, and must not settle it.
        self._settled: dict[str, Client] = {}

    def screen(self, frame: wire.Frame, client: Client) -> str:
        """BlastRADIUS flags (BLAST-2..5) and Message-Authenticator (AUTH-3)."""
        has_ma = frame.ma_offset >= 0
        proxy_states = frame.proxy_states
        if proxy_states > MAX_PROXY_STATES:
            return "proxy_loop"
        # Verify first, so a forged packet can neither pass nor teach "auto".
        if has_ma:
            if not crypto.verify_request_ma(frame.data, frame.ma_offset, client.secret):
                return "bad_message_authenticator"
            if frame.code != wire.STATUS_SERVER and self._settled.get(client.name) is not client:
                self._learn(client, has_ma, frame, proxy_states)
            return ""  # a verified MA passes whatever the settings say
        if frame.code == wire.STATUS_SERVER:  # always carries MA; teaches "auto" nothing
            return "status_server_without_ma"  # RFC 5997 §3 (SS-1)
        require_ma, limit_ps = self._learn(client, has_ma, frame, proxy_states)
        if require_ma:
            return "blastradius_missing_ma"
        if proxy_states and limit_ps:
            return "blastradius_proxy_state_without_ma"
        return ""

    def _learn(self, client: Client, has_ma: bool, frame: wire.Frame, proxy_states: int) -> tuple[bool, bool]:
        """Both settings for this packet, deciding "auto" on the first one."""
        require_ma = self._requires_ma(client, has_ma, frame)
        limit_ps = self._limits_proxy_state(client, has_ma, proxy_states)
        if self._fixed(client, client.require_message_authenticator, self._auto_ma) and self._fixed(
            client, client.limit_proxy_state, self._auto_ps
        ):
            self._settled[client.name] = client
        return require_ma, limit_ps

    @staticmethod
    def _fixed(client: Client, setting: str, decided: dict[str, bool]) -> bool:
        """Will the setting answer the same for every later packet?"""
        return (
            setting != "auto"
            or client.network.prefixlen != client.network.max_prefixlen
            or client.name in decided
        )

    def _requires_ma(self, client: Client, has_ma: bool, frame: wire.Frame) -> bool:
        """"auto" is decided by the client's first packet, as FreeRADIUS does:
        without MA → no; with MA and no EAP-Message → yes; MA with EAP → undecided.
        It has no effect for network (CIDR) definitions (BLAST-4)."""
        setting = client.require_message_authenticator
        if setting != "auto":
            return setting == "yes"
        decided = self._auto_ma.get(client.name)
        if decided is not None:
            return decided
        if client.network.prefixlen != client.network.max_prefixlen:
            return False
        if not has_ma:
            self._auto_ma[client.name] = False
        elif frame.get(wire.EAP_MESSAGE) is None:
            self._auto_ma[client.name] = True
        return self._auto_ma.get(client.name, False)

    def _limits_proxy_state(self, client: Client, has_ma: bool, proxy_states: int) -> bool:
        """"auto": the first packet with Proxy-State and no MA turns the limit
        off for that client; any other first packet turns it on (BLAST-4)."""
        setting = client.limit_proxy_state
        if setting != "auto":
            return setting == "yes"
        decided = self._auto_ps.get(client.name)
        if decided is None:
            if client.network.prefixlen != client.network.max_prefixlen:
                return False
            decided = self._auto_ps[client.name] = not (proxy_states and not has_ma)
        return decided
