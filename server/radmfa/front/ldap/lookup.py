"""Who a bind name is: the user name radmfa knows and the DN the directory binds.

Read from the name itself whenever it can be (``uid=alice,…`` is alice when
``uid`` is the upstream's user_attribute; a bind-DN template makes the DN of
a plain name), else looked up with the upstream's service account, the way
the LDAP upstream finds users: the entry's user_attribute for a DN such as
AD's ``CN=Alice Smith,OU=Staff,…``, the one entry user_filter matches for
a plain name. Those lookups only name the user: operations are never run
as the service account.

ldap3 is synchronous, so lookups run in a thread pool of the upstream's
``pool_size``, on pooled service-account connections, each lookup bounded by
the upstream's ``timeout_s`` per server, servers tried in the order
upstream/failover.py gives (shared with directory.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ldap3 import BASE, Connection

from radmfa.config import LdapConfig, LdapServer
from radmfa.directory import ldapconn as lc
from radmfa.front.ldap import names
from radmfa.front.ldap.names import Identity
from radmfa.upstream.failover import Failover
from radmfa.upstream.ldap import directory_name


class Resolver:
    def __init__(self, cfg: LdapConfig, *, timeout_s: float, failover: Failover[LdapServer]) -> None:
        self.cfg = cfg
        self.timeout = timeout_s
        self.failover = failover
        self._context = lc.tls_context(cfg)
        self._executor = ThreadPoolExecutor(max_workers=cfg.pool_size, thread_name_prefix="ldap-front")
        self._lock = threading.Lock()
        self._idle: list[tuple[str, Connection]] = []  # (server URL, bound service-account connection)

    async def resolve(self, bind_name: str) -> Identity | None:
        """The identity a user bind names; None when it names nobody radmfa
        can put a second factor on."""
        if names.parse(bind_name) is not None:
            return await self._from_dn(bind_name)
        user = directory_name(bind_name, strip_realm=self.cfg.strip_realm)
        if not user:
            return None
        if self.cfg.bind_dn_template:
            return Identity(bind_name, self.cfg.bind_dn_template.replace("{user}", lc.escape_dn_value(user)))
        found = await self._run(self._dn_of, user)
        return Identity(bind_name, found) if found else None

    async def _from_dn(self, dn: str) -> Identity | None:
        if self.cfg.base_dn and not names.under(dn, self.cfg.base_dn):
            return None  # not an entry the upstream would ever find: it could not be the same user
        name = names.rdn_value(dn, self.cfg.user_attribute)
        if name is None and self.cfg.bind_dn:
            name = await self._run(self._name_of, dn)
        return Identity(name, dn) if name else None

    async def _run(self, work: Any, arg: str) -> str | None:
        loop = asyncio.get_running_loop()
        result: str | None = await loop.run_in_executor(self._executor, work, arg)
        return result

    async def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            lc.close(conn)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- in a pool thread from here on --------------------------------------------

    def _name_of(self, dn: str) -> str | None:
        """The entry's user_attribute, read as the service account."""
        attribute = self.cfg.user_attribute
        found = self._search(dn, "(objectClass=*)", [attribute], scope=BASE)
        return lc.single_value(found[0][1], attribute) if len(found) == 1 else None

    def _dn_of(self, user: str) -> str | None:
        """The DN of the one entry user_filter matches (several: none)."""
        user_filter = self.cfg.user_filter.replace("{user}", lc.escape_filter_value(user))
        found = self._search(self.cfg.base_dn, user_filter, ["1.1"], size_limit=2)
        return found[0][0] if len(found) == 1 else None

    def _search(self, base: str, ldap_filter: str, attributes: list[str], **kw: Any) -> list[tuple[str, Any]]:
        for server in self.failover.order(now=time.monotonic()):
            started = time.monotonic()
            try:
                code, entries = self._search_on(server, started + self.timeout, base, ldap_filter, attributes, **kw)
            except lc.ServerFailed:
                self.failover.failed(server, since=started, now=time.monotonic())
                continue
            self.failover.answered(server, now=time.monotonic())
            return entries if code in (lc.SUCCESS, lc.SIZE_LIMIT_EXCEEDED) else []
        return []

    def _search_on(
        self, server: LdapServer, deadline: float, *args: Any, **kw: Any
    ) -> tuple[int, list[tuple[str, Any]]]:
        """On a pooled connection, or a new one when the pooled one had gone stale."""
        for fresh in (False, True):
            conn = self._checkout(server, deadline, fresh=fresh)
            try:
                code, entries = lc.search(conn, *args, deadline=deadline, **kw)
            except lc.ServerFailed:
                lc.close(conn)
                if fresh or not lc.worth_retrying(deadline, self.timeout):
                    raise
                continue
            if lc.server_trouble(code):
                lc.close(conn)
                raise lc.ServerFailed(f"lookup failed with result {code}")
            self._checkin(server, conn)
            return code, entries
        raise AssertionError("unreachable")

    def _checkout(self, server: LdapServer, deadline: float, *, fresh: bool) -> Connection:
        if not fresh:
            with self._lock:
                for i, (url, conn) in enumerate(self._idle):
                    if url == server.url:
                        del self._idle[i]
                        if not conn.closed:
                            return conn
                        break
        conn = lc.connect(server, self.cfg, self._context, lc.remaining(deadline))
        code = lc.simple_bind(conn, self.cfg.bind_dn, self.cfg.bind_password, deadline=deadline)
        if code != lc.SUCCESS:
            lc.close(conn)
            raise lc.ServerFailed(f"service account bind refused (LDAP result {code})")
        return conn

    def _checkin(self, server: LdapServer, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < self.cfg.pool_size:
                self._idle.append((server.url, conn))
                return
        lc.close(conn)
