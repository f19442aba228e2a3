"""``[clients.<name>]`` by client name: the core's ClientPolicies port.

One table per process, shared by the pipeline and the RADIUS listener;
SIGHUP replaces its contents when clients.conf is reloaded, so both see the
new policies from the next request on. A client without a table gets the
defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from radmfa.config import ClientPolicy

DEFAULT = ClientPolicy()


class PolicyTable:
    def __init__(self, policies: Mapping[str, ClientPolicy] | None = None) -> None:
        self._by_name = dict(policies or {})

    def policy_for(self, client: str) -> ClientPolicy:
        return self._by_name.get(client) or DEFAULT

    def replace(self, policies: Mapping[str, ClientPolicy]) -> None:
        self._by_name = dict(policies)
