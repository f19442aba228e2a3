"""Primary-authentication adapters. The registry is a plain dict of builders."""

from __future__ import annotations

from collections.abc import Mapping

from radmfa.config import ClientPolicy, Config, UpstreamConfig
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.core.ports import Upstream, UserLookup
from radmfa.upstream.ldap import LdapUpstream
from radmfa.upstream.local import LocalUpstream
from radmfa.upstream.radius import RadiusUpstream
from radmfa.upstream.radsec import RadsecUpstream


async def build_upstream(cfg: UpstreamConfig, store: UserLookup) -> Upstream:
    if cfg.type == "radius":
        upstream = RadsecUpstream(cfg) if cfg.transport == "radsec" else RadiusUpstream(cfg)
        await upstream.start()
        return upstream
    if cfg.type == "ldap":
        return LdapUpstream(cfg)
    return LocalUpstream(store)


async def build_upstreams(config: Config, store: UserLookup, policies: Mapping[str, ClientPolicy]) -> Upstream:
    """The default [upstream], or a ClientRouter when [upstreams.<name>] exist.
    ``policies`` are the clients' [clients.<name>] tables, by clients.conf name."""
    default = await build_upstream(config.upstream, store)
    if not config.upstreams:
        return default
    named: dict[str, Upstream] = {"default": default}
    try:
        for name, cfg in config.upstreams.items():
            named[name] = await build_upstream(cfg, store)
    except BaseException:
        for upstream in named.values():
            await upstream.close()
        raise
    router = ClientRouter(named)
    router.route(policies)
    return router


class ClientRouter:
    """Failover composes inside one upstream; this picks the upstream by the
    NAS client (clients.conf short name) the request came from."""

    def __init__(self, named: Mapping[str, Upstream]) -> None:
        self.named = dict(named)
        self.routes: dict[str, str] = {}  # clients.conf name → upstream name; absent = "default"

    def route(self, policies: Mapping[str, ClientPolicy]) -> None:
        """(Re)read which client uses which upstream; config/upstream.py checked the names."""
        self.routes = {client: p.upstream for client, p in policies.items() if p.upstream in self.named}

    def pick(self, client: str) -> Upstream:
        return self.named[self.routes.get(client, "default")]

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        return await self.pick(request.client).authenticate(request, password)

    def healthy(self) -> bool:
        # Status-Server speaks for the node: healthy while any path can answer.
        return any(u.healthy() for u in self.named.values())

    async def close(self) -> None:
        for upstream in self.named.values():
            await upstream.close()
