"""Primary-authentication adapters. The registry is a plain dict of builders."""

from __future__ import annotations

from radmfa.config import UpstreamConfig
from radmfa.core.ports import Store, Upstream
from radmfa.upstream.local import LocalUpstream
from radmfa.upstream.radius import RadiusUpstream


async def build_upstream(cfg: UpstreamConfig, store: Store) -> Upstream:
    if cfg.type == "radius":
        upstream = RadiusUpstream(cfg)
        await upstream.start()
        return upstream
    return LocalUpstream(store)
