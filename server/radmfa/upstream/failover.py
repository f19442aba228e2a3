"""Which servers a request tries, and in what order: the one dead-server
tracker of the RADIUS upstream, the LDAP upstream and the LDAP front end's
directory connections.

The model is FreeRADIUS's fail-over between home servers: a
``home_server_pool`` of ``type = fail-over`` with ``status_check = none``
(version 3, raddb/proxy.conf), a ``redundant`` section in version 4:

* A request goes to the first *live* server in the configured order, then
  the next live one if that one fails. Dead servers are not used while a
  live one is left.
* A server that does not answer (timed out, refused, TLS not verified) is
  marked *dead* for ``dead_time_s``, unless it answered something else while
  this request waited for it: then it is busy or slow with this request, not
  dead (FreeRADIUS: "Received reply from home server … Might not be zombie").
* Any answer marks a server live at once, a Status-Server probe's
  included (upstream/radius.py and upstream/radsec.py probe dead RADIUS
  servers, FreeRADIUS's ``status_check = status-server``). A dead server
  also comes back by itself when its dead time ends (FreeRADIUS's
  ``revive_interval``): servers that ignore Status-Server, and the LDAP
  directories, are found alive that way.
* When no live server is left, one dead server is tried as a last resort
  (FreeRADIUS uses a zombie this way): the one whose dead time ends first.
  One, not every one, so a login fails fast while the whole directory is
  down, yet the first server to come back is found by the next login.

Time is an argument (monotonic seconds), so the rules are tested without
waiting. The LDAP adapters call it from their thread pools, hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

from radmfa import metrics

S = TypeVar("S", bound=Hashable)


class Failover(Generic[S]):
    def __init__(self, servers: Sequence[S], dead_time_s: float) -> None:
        self.servers: tuple[S, ...] = tuple(servers)
        self.dead_time_s = dead_time_s
        self._dead_until: dict[S, float] = {}
        self._answered_at: dict[S, float] = {}
        self._names = {s: server_name(s) for s in self.servers}  # the metrics' label, made once
        self._lock = threading.Lock()

    def order(self, *, now: float) -> tuple[S, ...]:
        """The servers one request may try, in order: every live one, then
        the dead one whose dead time ends first."""
        if not self._dead_until:  # the usual case, and the hot path
            return self.servers
        with self._lock:
            self._revive(now)
            live = tuple(s for s in self.servers if s not in self._dead_until)
            if len(live) == len(self.servers):
                return live
            probe = min(self._dead_until, key=lambda s: (self._dead_until[s], self.servers.index(s)))
            return (*live, probe)

    def answered(self, server: S, *, now: float, since: float | None = None) -> None:
        """``server`` answered (any answer, Access-Reject and wrong password
        included) a request sent at ``since``."""
        with self._lock:
            self._answered_at[server] = now
            if self._dead_until:
                self._dead_until.pop(server, None)
        name = self._names.get(server) or self._name(server)  # every answer: the lookup without its call
        if since is not None:
            metrics.current.upstream(name, now - since, ok=True)
        metrics.current.upstream_up(name, True)

    def failed(self, server: S, *, since: float, now: float) -> bool:
        """``server`` gave no answer to a request sent at ``since``; True when
        that marks it dead (it answered nothing else meanwhile)."""
        metrics.current.upstream(self._name(server), now - since, ok=False)
        with self._lock:
            if self._answered_at.get(server, since - 1.0) >= since:
                return False
            self._dead_until[server] = now + self.dead_time_s
        metrics.current.upstream_up(self._name(server), False)
        return True

    def dead(self, *, now: float) -> list[S]:
        with self._lock:
            self._revive(now)
            return [s for s in self.servers if s in self._dead_until]

    def healthy(self, *, now: float) -> bool:
        """Some server is live (Status-Server in ``drop`` mode asks this)."""
        return len(self.dead(now=now)) < len(self.servers)

    def _revive(self, now: float) -> None:
        for server in [s for s, until in self._dead_until.items() if until <= now]:
            del self._dead_until[server]
            metrics.current.upstream_up(self._name(server), True)

    def _name(self, server: S) -> str:
        name = self._names.get(server)
        return name if name is not None else server_name(server)


def server_name(server: Hashable) -> str:
    """How metrics name a server: host:port, or an LDAP server's URL."""
    url = getattr(server, "url", None)
    if isinstance(url, str):
        return url
    if isinstance(server, tuple) and len(server) == 2:
        host, port = server
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(server)
