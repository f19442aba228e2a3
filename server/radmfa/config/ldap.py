"""``[upstream] type = "ldap"``: the directory a password is checked against
(search-then-bind or a bind-DN template), and the rules that read it."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from radmfa.config.reader import Section, is_loopback, one_of, parse_host_port

LdapScheme = Literal["ldap", "ldaps"]
LDAP_SCHEMES: tuple[LdapScheme, ...] = get_args(LdapScheme)
# How group membership is checked: "nested" is AD's LDAP_MATCHING_RULE_IN_CHAIN
# (1.2.840.113556.1.4.1941); "memberof" reads the user's memberOf; "member"
# reads the group's member values.
GroupCheck = Literal["nested", "memberof", "member"]
GROUP_CHECKS: tuple[GroupCheck, ...] = get_args(GroupCheck)

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


@dataclass(frozen=True, slots=True)
class LdapServer:
    """One directory server from ``servers = ["ldaps://dc1.corp.example"]``."""

    scheme: LdapScheme
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LdapConfig:
    """``[upstream] type = "ldap"``: search-then-bind or a bind-DN template."""

    servers: tuple[LdapServer, ...]
    start_tls: bool = False  # on ldap:// servers, before any bind (RFC 4511 §4.14)
    ca_file: Path | None = None  # None: the system's trusted CAs
    verify: bool = True  # certificate and host name checks on ldaps:// and StartTLS
    bind_dn: str = ""  # service account for search-then-bind
    bind_password: str = ""
    bind_dn_template: str = ""  # e.g. "uid={user},ou=people,dc=example,dc=org" or "{user}@corp.example"
    base_dn: str = ""
    user_filter: str = "(uid={user})"  # {user} is RFC 4515-escaped
    require_group: str = ""  # DN of a group the user must belong to
    group_check: GroupCheck = "nested"
    pool_size: int = 4  # threads and pooled service-account connections
    strip_realm: bool = True  # {user} without a DOMAIN\\ prefix or @realm
    # The entry's naming attribute (uid, sAMAccountName, userPrincipalName): the
    # directory's own spelling of the user name, checked against the User-Name.
    user_attribute: str = ""
    allow_plaintext: bool = False  # ldap:// with no StartTLS to a host that is not loopback

    def __repr__(self) -> str:
        return f"LdapConfig(servers={[s.url for s in self.servers]!r}, bind_dn={self.bind_dn!r}, password=<redacted>)"


def plaintext(ldap: LdapConfig, server: LdapServer) -> bool:
    """Would binds to ``server`` carry passwords in clear?"""
    return server.scheme == "ldap" and not ldap.start_tls


def template_is_dn(template: str) -> bool:
    """``uid={user},ou=people,…`` is a DN; ``{user}@corp.example`` and
    ``CORP\\{user}`` are names AD also binds with, but not DNs."""
    return re.match(r"\s*[A-Za-z][A-Za-z0-9-]*\s*=\s*\{user\}\s*,", template) is not None


def naming_attribute(ldap: LdapConfig) -> str:
    """The attribute ``{user}`` is compared with: ``uid`` in
    ``uid={user},ou=people,…``, ``sAMAccountName`` in
    ``(&(objectClass=user)(sAMAccountName={user}))``; "" when not plain."""
    if ldap.bind_dn_template and template_is_dn(ldap.bind_dn_template):
        return ldap.bind_dn_template.partition("=")[0].strip()
    found = re.findall(r"\(\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*\{user\}", ldap.user_filter)
    return found[0] if len(set(found)) == 1 else ""


def parse_ldap(u: Section) -> LdapConfig:
    """The LDAP keys of an ``[upstream]`` or ``[upstreams.<name>]`` table."""
    filter_given = "user_filter" in u.data
    ldap = LdapConfig(
        servers=_servers(u),
        start_tls=u.get("start_tls", bool, False),
        ca_file=u.path_value("ca_file", Path()) if "ca_file" in u.data else None,
        verify=u.get("verify", bool, True),
        bind_dn=u.get("bind_dn", str, ""),
        bind_password=u.secret_text("bind_password"),
        bind_dn_template=u.get("bind_dn_template", str, ""),
        base_dn=u.get("base_dn", str, ""),
        user_filter=u.get("user_filter", str, "(uid={user})"),
        require_group=u.get("require_group", str, ""),
        group_check=u.choice("group_check", "nested", GROUP_CHECKS),
        pool_size=u.integer("pool_size", 4, minimum=1, maximum=64),
        strip_realm=u.get("strip_realm", bool, True),
        user_attribute=u.get("user_attribute", str, ""),
        allow_plaintext=u.get("allow_plaintext", bool, False),
    )
    _check_binds(u, ldap)
    _check_transport(u, ldap)
    _check_template(u, ldap, filter_given=filter_given)
    _check_plaintext(u, ldap)
    attribute = ldap.user_attribute or naming_attribute(ldap)
    if not _ATTRIBUTE.fullmatch(attribute):
        u.fail("user_attribute", "give the attribute that holds the user name (e.g. \"sAMAccountName\", \"uid\"): "
               "it could not be read from user_filter / bind_dn_template")
    return replace(ldap, user_attribute=attribute)


def _check_binds(u: Section, ldap: LdapConfig) -> None:
    if bool(ldap.bind_dn) == bool(ldap.bind_dn_template):
        u.fail("bind_dn", "give either bind_dn (search-then-bind) or bind_dn_template, not both or neither")
    if ldap.bind_dn and not ldap.bind_password:
        u.fail("bind_password", "bind_dn needs bind_password or bind_password_file")
    if ldap.bind_dn and not ldap.base_dn:
        u.fail("base_dn", "search-then-bind (bind_dn) needs base_dn")
    for key, text in (("user_filter", ldap.user_filter), ("bind_dn_template", ldap.bind_dn_template)):
        if text and "{user}" not in text:
            u.fail(key, "must contain {user}")
    if not ldap.user_filter.startswith("("):
        u.fail("user_filter", f"not an LDAP filter: {ldap.user_filter!r}")


def _check_transport(u: Section, ldap: LdapConfig) -> None:
    if ldap.ca_file is not None and not ldap.ca_file.is_file():
        u.fail("ca_file", f"no such file: {ldap.ca_file}")
    if ldap.start_tls and any(s.scheme == "ldaps" for s in ldap.servers):
        u.fail("start_tls", "StartTLS is for ldap:// servers; ldaps:// is TLS already")


def _check_template(u: Section, ldap: LdapConfig, *, filter_given: bool) -> None:
    if ldap.bind_dn_template and not template_is_dn(ldap.bind_dn_template):
        # "{user}@corp.example": no DN to read the entry at, so it is searched
        # for (on the user's own connection) with user_filter under base_dn.
        if not ldap.base_dn:
            u.fail("base_dn", f"bind_dn_template {ldap.bind_dn_template!r} is not a DN: give base_dn and "
                   "user_filter to find the user's entry, e.g. \"(userPrincipalName={user}@corp.example)\"")
        if not filter_given:
            u.fail("user_filter", "bind_dn_template is not a DN: give the filter that finds the user's entry, "
                   'e.g. "(userPrincipalName={user}@corp.example)"')


def _check_plaintext(u: Section, ldap: LdapConfig) -> None:
    for i, server in enumerate(ldap.servers):
        if plaintext(ldap, server) and not is_loopback(server.host) and not ldap.allow_plaintext:
            u.fail(f"servers[{i}]", f"{server.url} sends passwords in clear: use ldaps://, start_tls = true, "
                   "or (a lab only) allow_plaintext = true")


def _servers(u: Section) -> tuple[LdapServer, ...]:
    values = u.get("servers", list, [])
    if not values:
        u.fail("servers", 'type = "ldap" needs at least one server, e.g. "ldaps://dc1.corp.example"')
    out = []
    for i, v in enumerate(values):
        text, sep, rest = v.partition("://") if isinstance(v, str) else ("", "", "")
        scheme = one_of(text, LDAP_SCHEMES)
        if not sep or scheme is None or "/" in rest:
            u.fail(f"servers[{i}]", f'expected "ldap://host[:port]" or "ldaps://host[:port]", got {v!r}')
        try:
            host, port = parse_host_port(rest, 636 if scheme == "ldaps" else 389)
        except ValueError as e:
            u.fail(f"servers[{i}]", str(e))
        out.append(LdapServer(scheme, host, port))
    return tuple(out)
