"""Primary authentication against LDAP / Active Directory.

Search-then-bind: a service account (pooled, bound connections) finds the
user's entry with ``user_filter``; a fresh connection then binds as that
entry with the password. Or, with no service account, a bind straight to
``bind_dn_template``. Optionally the user must be in ``require_group``.

ldap3 is synchronous, so every directory exchange runs in a thread pool of
``pool_size`` threads: the event loop never blocks. Connections are pooled
too, service-account ones and user-bind ones (a rebind is one round trip, a
new TLS connection a handshake), so one process holds at most
2 × ``pool_size`` connections per server.

Failover: servers are tried in order; one that fails (refused, timed out,
TLS not verified) is tried last for ``dead_time_s``. When none answers the
request fails closed with UpstreamUnavailable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ldap3 import Connection

from radmfa.audit import log
from radmfa.config import LdapConfig, LdapServer, UpstreamConfig
from radmfa.core import policy
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.directory import ldapconn as lc
from radmfa.errors import UpstreamUnavailable

_SERVICE = "service"  # pooled connections bound as the service account
_USER = "user"  # pooled connections for user binds (each use binds anew)


def directory_name(username: str, *, strip_realm: bool) -> str:
    """The name put into ``{user}``: without DOMAIN\\ and @realm when asked."""
    if not strip_realm:
        return username
    name = username.rpartition("\\")[2]
    head, at, _ = name.rpartition("@")
    return head if at else name


def group_filter(cfg: LdapConfig, user_dn: str) -> tuple[str, str]:
    """(base, filter) of the base-scope search that succeeds for a member."""
    group = cfg.require_group
    if cfg.group_check == "member":  # OpenLDAP groupOfNames / groupOfUniqueNames
        dn = lc.escape_filter_value(user_dn)
        return group, f"(|(member={dn})(uniqueMember={dn}))"
    g = lc.escape_filter_value(group)
    if cfg.group_check == "memberof":  # OpenLDAP memberof overlay, AD direct membership
        return user_dn, f"(memberOf={g})"
    return user_dn, f"(memberOf:{lc.IN_CHAIN}:={g})"  # AD: nested groups too


class LdapUpstream:
    def __init__(self, cfg: UpstreamConfig) -> None:
        assert cfg.ldap is not None
        self.cfg: LdapConfig = cfg.ldap
        self.name = cfg.name
        self.timeout = cfg.timeout_s
        self.dead_time = cfg.dead_time_s
        self._context = lc.tls_context(self.cfg)
        self._executor = ThreadPoolExecutor(max_workers=self.cfg.pool_size, thread_name_prefix="ldap")
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[Connection]] = {}  # (server URL, _SERVICE | _USER) → idle
        self._dead_until: dict[str, float] = {}

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        name = policy.decode_name(request.username)
        if not name:
            return PrimaryResult(False, reason="User-Name missing or not UTF-8", relayed=False)
        if not password:
            # RFC 4513 §5.1.2: a simple bind with a DN and an empty password is
            # an "unauthenticated" bind that many servers answer with success.
            return PrimaryResult(False, reason="empty password", relayed=False)
        user = directory_name(name, strip_realm=self.cfg.strip_realm)
        if not user:
            return PrimaryResult(False, reason="empty user name", relayed=False)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._authenticate, user, password)

    def healthy(self) -> bool:
        now = time.monotonic()
        return any(self._dead_until.get(s.url, 0.0) <= now for s in self.cfg.servers)

    async def close(self) -> None:
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
        for conn in idle:
            lc.close(conn)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- in a pool thread from here on --------------------------------------------

    def _order(self) -> list[LdapServer]:
        now = time.monotonic()
        alive = [s for s in self.cfg.servers if self._dead_until.get(s.url, 0.0) <= now]
        return alive + [s for s in self.cfg.servers if s not in alive]

    def _authenticate(self, user: str, password: bytes) -> PrimaryResult:
        tried: list[str] = []
        for server in self._order():
            tried.append(server.url)
            try:
                result = self._attempt(server, user, password)
            except lc.ServerFailed as e:
                self._dead_until[server.url] = time.monotonic() + self.dead_time
                log.warning("ldap server failed", server=server.url, error=str(e))
                continue
            self._dead_until.pop(server.url, None)
            return result
        raise UpstreamUnavailable("no LDAP server answered", tried=tuple(tried))

    def _attempt(self, server: LdapServer, user: str, password: bytes) -> PrimaryResult:
        if not self.cfg.bind_dn:
            dn = self.cfg.bind_dn_template.replace("{user}", lc.escape_dn_value(user))
            return self._bind_user(server, dn, password, None)
        user_filter = self.cfg.user_filter.replace("{user}", lc.escape_filter_value(user))
        svc, entries = self._find_user(server, user_filter)
        try:
            if not entries:
                result = PrimaryResult(False, server=server.url, reason="unknown user", relayed=False)
            elif len(entries) > 1:
                result = PrimaryResult(
                    False, server=server.url, reason="user_filter matched several entries", relayed=False
                )
            else:
                result = self._bind_user(server, entries[0], password, svc)
        except BaseException:
            lc.close(svc)
            raise
        self._checkin(server, _SERVICE, svc)
        return result

    def _find_user(self, server: LdapServer, user_filter: str) -> tuple[Connection, list[str]]:
        """The service connection used and the DNs that match (at most 2)."""
        for fresh in (False, True):
            svc = self._checkout(server, _SERVICE, fresh=fresh)
            try:
                code, entries = lc.search(svc, self.cfg.base_dn, user_filter, ["1.1"], size_limit=2)
            except lc.ServerFailed:
                lc.close(svc)
                if fresh:
                    raise
                continue  # an idle pooled connection the server had closed: once more, new
            if code not in (lc.SUCCESS, lc.SIZE_LIMIT_EXCEEDED, lc.NO_SUCH_OBJECT):
                lc.close(svc)
                raise lc.ServerFailed(f"user search failed with result {code}")
            return svc, [dn for dn, _ in entries]
        raise AssertionError("unreachable")

    def _user_bind(self, server: LdapServer, dn: str, password: bytes) -> tuple[Connection, int]:
        """Bind as ``dn`` on a pooled connection (a rebind costs a round trip;
        a new TLS connection a handshake), or on a new one if that fails."""
        for fresh in (False, True):
            conn = self._checkout(server, _USER, fresh=fresh)
            try:
                return conn, lc.simple_bind(conn, dn, password)
            except lc.ServerFailed:
                lc.close(conn)
                if fresh:
                    raise
        raise AssertionError("unreachable")

    def _bind_user(self, server: LdapServer, dn: str, password: bytes, svc: Connection | None) -> PrimaryResult:
        conn, code = self._user_bind(server, dn, password)
        try:
            if code == lc.INVALID_CREDENTIALS:
                result = PrimaryResult(False, server=server.url, reason="wrong password", relayed=False)
            elif code != lc.SUCCESS:
                reason = f"bind refused (LDAP result {code})"
                result = PrimaryResult(False, server=server.url, reason=reason, relayed=False)
            elif self.cfg.require_group and not lc.exists(svc or conn, *group_filter(self.cfg, dn)):
                result = PrimaryResult(False, server=server.url, reason="not in the required group", relayed=False)
            else:
                result = PrimaryResult(True, server=server.url, reason="ldap bind ok")
        except BaseException:
            lc.close(conn)
            raise
        # Back to the pool still bound as this user; whoever takes it next binds
        # first, so no request ever runs with another user's identity.
        self._checkin(server, _USER, conn)
        return result

    def _checkout(self, server: LdapServer, kind: str, *, fresh: bool = False) -> Connection:
        """An idle pooled connection of ``kind``, else a new one (service
        connections come bound as the service account)."""
        if not fresh:
            with self._lock:
                idle = self._idle.get((server.url, kind))
                conn = idle.pop() if idle else None
            if conn is not None and not conn.closed:
                return conn
        conn = lc.connect(server, self.cfg, self._context, self.timeout)
        if kind == _USER:
            return conn
        code = lc.simple_bind(conn, self.cfg.bind_dn, self.cfg.bind_password)
        if code != lc.SUCCESS:
            lc.close(conn)
            log.error("ldap service account bind refused", server=server.url, bind_dn=self.cfg.bind_dn, result=code)
            raise lc.ServerFailed(f"service account bind refused (LDAP result {code})")
        return conn

    def _checkin(self, server: LdapServer, kind: str, conn: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault((server.url, kind), [])
            if len(idle) < self.cfg.pool_size:
                idle.append(conn)
                return
        lc.close(conn)
