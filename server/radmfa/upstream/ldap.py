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

Who logged in: the entry's ``user_attribute`` (uid, sAMAccountName) goes
back as PrimaryResult.canonical_name, because the directory matches names
its own way (RFC 4518: full-width letters, soft hyphens) and the pipeline
must look up the same user the directory accepted.

Failover (failover.py): live servers in order, then one dead one as a last
resort, each with one deadline of ``timeout_s`` for everything done on it;
one that fails (refused, timed out, TLS not verified) is dead for
``dead_time_s``. When none answers the request fails closed with
UpstreamUnavailable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from ldap3 import BASE, Connection

from radmfa.config import LdapConfig, LdapServer, UpstreamConfig, plaintext, template_is_dn
from radmfa.core import policy
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.directory import ldapconn as lc
from radmfa.errors import UpstreamUnavailable
from radmfa.upstream.failover import Failover

_SERVICE = "service"  # pooled connections bound as the service account
_USER = "user"  # pooled connections for user binds (each use binds anew)

log = structlog.get_logger("radmfa.upstream")


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
        self.failover = Failover(self.cfg.servers, cfg.dead_time_s)
        self._context = lc.tls_context(self.cfg)
        self._executor = ThreadPoolExecutor(max_workers=self.cfg.pool_size, thread_name_prefix="ldap")
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[Connection]] = {}  # (server URL, _SERVICE | _USER) → idle
        for server in self.cfg.servers:
            if plaintext(self.cfg, server):  # the config allowed it: loopback, or allow_plaintext
                log.warning("ldap server without TLS: passwords travel in clear", server=server.url)

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        name = policy.decode_name(request.username)
        if not name:
            return PrimaryResult(False, reason="bad user name", relayed=False)  # policy.name_problem
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
        return self.failover.healthy(now=time.monotonic())

    async def close(self) -> None:
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
        for conn in idle:
            lc.close(conn)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- in a pool thread from here on --------------------------------------------

    def _authenticate(self, user: str, password: bytes) -> PrimaryResult:
        tried: list[str] = []
        for server in self.failover.order(now=time.monotonic()):
            tried.append(server.url)
            # One deadline for everything done with this server (a pooled
            # connection, a fresh one, the bind, the searches): a hanging
            # directory costs at most timeout_s per server, not a multiple.
            started = time.monotonic()
            try:
                result = self._attempt(server, user, password, started + self.timeout)
            except lc.ServerFailed as e:
                self.failover.failed(server, since=started, now=time.monotonic())
                log.warning("ldap server failed", server=server.url, error=str(e))
                continue
            self.failover.answered(server, now=time.monotonic(), since=started)
            return result
        raise UpstreamUnavailable("no LDAP server answered", tried=tuple(tried))

    def _reject(self, server: LdapServer, reason: str) -> PrimaryResult:
        return PrimaryResult(False, server=server.url, reason=reason, relayed=False)

    def _attempt(self, server: LdapServer, user: str, password: bytes, deadline: float) -> PrimaryResult:
        if not self.cfg.bind_dn:
            return self._template_bind(server, user, password, deadline)
        user_filter = self.cfg.user_filter.replace("{user}", lc.escape_filter_value(user))
        svc, code, entries = self._find_user(server, user_filter, deadline)
        try:
            if not entries:
                result = self._reject(server, "unknown user")
            elif len(entries) > 1 or code == lc.SIZE_LIMIT_EXCEEDED:
                # Result 4 with one entry: the server stopped early (its own
                # size limit); there may be more, so it is not a unique match.
                result = self._reject(server, "user_filter matched several entries")
            else:
                dn, attrs = entries[0]
                result = self._bind_user(server, dn, password, svc, attrs, deadline)
        except BaseException:
            lc.close(svc)
            raise
        self._checkin(server, _SERVICE, svc)
        return result

    def _find_user(
        self, server: LdapServer, user_filter: str, deadline: float
    ) -> tuple[Connection, int, list[tuple[str, dict[str, Any]]]]:
        """The service connection used, the result code and the entries that match (at most 2)."""
        for fresh in (False, True):
            svc = self._checkout(server, _SERVICE, deadline, fresh=fresh)
            try:
                code, entries = lc.search(
                    svc, self.cfg.base_dn, user_filter, [self.cfg.user_attribute], size_limit=2, deadline=deadline
                )
            except lc.ServerFailed:
                lc.close(svc)
                if fresh or not lc.worth_retrying(deadline, self.timeout):
                    raise
                continue  # an idle pooled connection the server had closed: once more, new
            if code not in (lc.SUCCESS, lc.SIZE_LIMIT_EXCEEDED, lc.NO_SUCH_OBJECT):
                lc.close(svc)
                raise lc.ServerFailed(f"user search failed with result {code}")
            return svc, code, entries
        raise AssertionError("unreachable")

    def _user_bind(self, server: LdapServer, dn: str, password: bytes, deadline: float) -> tuple[Connection, int]:
        """Bind as ``dn`` on a pooled connection (a rebind costs a round trip;
        a new TLS connection a handshake), or on a new one if that fails."""
        for fresh in (False, True):
            conn = self._checkout(server, _USER, deadline, fresh=fresh)
            try:
                return conn, lc.simple_bind(conn, dn, password, deadline=deadline)
            except lc.ServerFailed:
                lc.close(conn)
                if fresh or not lc.worth_retrying(deadline, self.timeout):
                    raise
        raise AssertionError("unreachable")

    def _template_bind(self, server: LdapServer, user: str, password: bytes, deadline: float) -> PrimaryResult:
        bind_name = self.cfg.bind_dn_template.replace("{user}", lc.escape_dn_value(user))
        conn, code = self._user_bind(server, bind_name, password, deadline)
        try:
            result = self._bind_refused(server, code)
            if result is None:
                # Who is this? Read the entry on the user's own connection: the
                # DN itself, or (for "{user}@corp.example") a search under base_dn.
                found = self._own_entry(conn, bind_name, user, deadline)
                if isinstance(found, str):
                    result = self._reject(server, found)
                else:
                    result = self._authorised(server, conn, *found, deadline)
        except BaseException:
            lc.close(conn)
            raise
        self._checkin(server, _USER, conn)
        return result

    def _own_entry(
        self, conn: Connection, bind_name: str, user: str, deadline: float
    ) -> tuple[str, dict[str, Any]] | str:
        """(DN, attributes) of the entry the user bound as, or why not."""
        attrs = [self.cfg.user_attribute]
        if template_is_dn(self.cfg.bind_dn_template):
            code, entries = lc.search(conn, bind_name, "(objectClass=*)", attrs, scope=BASE, deadline=deadline)
        else:
            user_filter = self.cfg.user_filter.replace("{user}", lc.escape_filter_value(user))
            code, entries = lc.search(conn, self.cfg.base_dn, user_filter, attrs, size_limit=2, deadline=deadline)
        if lc.server_trouble(code):
            raise lc.ServerFailed(f"user entry search failed with result {code}")
        if len(entries) > 1 or code == lc.SIZE_LIMIT_EXCEEDED:
            return "user_filter matched several entries"
        if not entries:
            return f"own entry not readable after the bind (LDAP result {code})"
        return entries[0]

    def _bind_refused(self, server: LdapServer, code: int) -> PrimaryResult | None:
        if code == lc.INVALID_CREDENTIALS:
            return self._reject(server, "wrong password")
        if code != lc.SUCCESS:
            return self._reject(server, f"bind refused (LDAP result {code})")
        return None

    def _bind_user(
        self, server: LdapServer, dn: str, password: bytes, svc: Connection, attrs: dict[str, Any], deadline: float
    ) -> PrimaryResult:
        conn, code = self._user_bind(server, dn, password, deadline)
        try:
            result = self._bind_refused(server, code) or self._authorised(server, svc, dn, attrs, deadline)
        except BaseException:
            lc.close(conn)
            raise
        # Back to the pool still bound as this user; whoever takes it next binds
        # first, so no request ever runs with another user's identity.
        self._checkin(server, _USER, conn)
        return result

    def _authorised(
        self, server: LdapServer, conn: Connection, dn: str, attrs: dict[str, Any], deadline: float
    ) -> PrimaryResult:
        """After a good bind: the entry's name, then the group."""
        name = lc.single_value(attrs, self.cfg.user_attribute)
        if name is None:
            # Several values would let any of them name the user: fail closed.
            return self._reject(server, f"entry has no single {self.cfg.user_attribute}")
        if self.cfg.require_group:
            code, member = lc.matches(conn, *group_filter(self.cfg, dn), deadline=deadline)
            if lc.server_trouble(code):
                raise lc.ServerFailed(f"group search failed with result {code}")
            if code not in (lc.SUCCESS, lc.NO_SUCH_OBJECT):  # this user's entry, not the server
                return self._reject(server, f"group check failed (LDAP result {code})")
            if not member:
                return self._reject(server, "not in the required group")
        return PrimaryResult(True, server=server.url, reason="ldap bind ok", canonical_name=name)

    def _checkout(self, server: LdapServer, kind: str, deadline: float, *, fresh: bool = False) -> Connection:
        """An idle pooled connection of ``kind``, else a new one (service
        connections come bound as the service account)."""
        if not fresh:
            with self._lock:
                idle = self._idle.get((server.url, kind))
                conn = idle.pop() if idle else None
            if conn is not None and not conn.closed:
                return conn
        conn = lc.connect(server, self.cfg, self._context, lc.remaining(deadline))
        if kind == _USER:
            return conn
        code = lc.simple_bind(conn, self.cfg.bind_dn, self.cfg.bind_password, deadline=deadline)
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
