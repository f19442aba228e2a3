"""``[sync]``: import users from an LDAP upstream's directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from radmfa.config.reader import Section
from radmfa.config.upstream import UpstreamConfig

# User fields `radmfa sync` fills from the directory, and the LDAP attribute
# each is read from by default (OpenLDAP inetOrgPerson; AD uses sAMAccountName).
SYNC_ATTRIBUTES = {
    "user_name": "uid",
    "first_name": "givenName",
    "last_name": "sn",
    "email": "mail",
    "mobile": "mobile",
    "office_phone": "telephoneNumber",
    "language": "preferredLanguage",
}


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """``[sync]``: import users from an LDAP upstream's directory."""

    upstream: str = ""  # "" = none configured; "default" or an [upstreams.<name>] of type "ldap"
    base_dn: str = ""  # "" = the upstream's base_dn
    filter: str = "(objectClass=inetOrgPerson)"
    attributes: Mapping[str, str] = field(default_factory=lambda: dict(SYNC_ATTRIBUTES))
    every_minutes: int = 0  # 0 = only `radmfa sync`; else also in the service
    max_removals: int = 5  # more leavers than this in one run: none is blocked until confirmed
    page_size: int = 500  # RFC 2696 paged results (AD returns at most 1000 per page)


def parse_sync(s: Section, default: UpstreamConfig, named: Mapping[str, UpstreamConfig]) -> SyncConfig:
    d = SyncConfig()
    table = s.get("attributes", dict, {})
    for key, value in table.items():
        if key not in SYNC_ATTRIBUTES:
            s.fail(f"attributes.{key}", f"unknown user field; known: {', '.join(SYNC_ATTRIBUTES)}")
        if not isinstance(value, str):
            s.fail(f"attributes.{key}", f"expected an LDAP attribute name, got {value!r}")
    sync = SyncConfig(
        upstream=s.get("upstream", str, "default" if default.ldap is not None and default.ldap.bind_dn else ""),
        base_dn=s.get("base_dn", str, ""),
        filter=s.get("filter", str, d.filter),
        attributes={**SYNC_ATTRIBUTES, **table},
        every_minutes=s.integer("every_minutes", 0, minimum=0, maximum=10080),
        max_removals=s.integer("max_removals", d.max_removals, minimum=0, maximum=1_000_000),
        page_size=s.integer("page_size", d.page_size, minimum=1, maximum=10000),
    )
    if not sync.filter.startswith("("):
        s.fail("filter", f"not an LDAP filter: {sync.filter!r}")
    if sync.upstream:
        chosen = default if sync.upstream == "default" else named.get(sync.upstream)
        if chosen is None:
            s.fail("upstream", f"no [upstreams.{sync.upstream}] table")
        elif chosen.ldap is None or not chosen.ldap.bind_dn:
            s.fail("upstream", f"{sync.upstream!r} must be an LDAP upstream with a service account (bind_dn)")
    elif sync.every_minutes:
        s.fail("every_minutes", "needs an LDAP upstream to sync from (set [sync] upstream)")
    s.done()
    return sync
