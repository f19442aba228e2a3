"""``[clients.<name>]``: how radmfa treats one NAS of clients.conf."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from radmfa.config.phone import PhoneConfig
from radmfa.config.reader import Section
from radmfa.config.tls import RADSEC_SECRET, cert_name, tls_file
from radmfa.core.model import AppPasswordMode, ClientMode, Primary
from radmfa.errors import ConfigError

# Where a client's requests say the end user's address is (trusted networks,
# remembered devices and the audit log read it from there); "source" is the
# NAS's own address.
UserIpAttribute = Literal["Calling-Station-Id", "Framed-IP-Address", "source"]
USER_IP_ATTRIBUTES: tuple[UserIpAttribute, ...] = get_args(UserIpAttribute)
# "challenge": a menu of factors; "oob": hold the request for a call or push;
# "auto": an inline keyword if the password carries one, else the menu.
CLIENT_MODES: tuple[ClientMode, ...] = get_args(ClientMode)
# "upstream": radmfa checks the password; "none": the NAS checked it and only
# the User-Name comes.
CLIENT_PRIMARY: tuple[Primary, ...] = get_args(Primary)
# App passwords through this client (only with [mfa] app_passwords = true).
APP_PASSWORD_CHOICES: tuple[AppPasswordMode, ...] = get_args(AppPasswordMode)


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """``[clients.<name>]``: how radmfa treats one NAS of clients.conf.

    ``<name>`` is the client's section name in clients.conf or its shortname.
    A client without a table gets these defaults.
    """

    name: str = ""
    user_ip_attribute: UserIpAttribute = "Calling-Station-Id"
    mode: ClientMode = "challenge"
    primary: Primary = "upstream"
    app_name: str = ""  # {app} in messages to users; "" = the client's name
    app_passwords: AppPasswordMode = "allow"
    remember_days: int = 14  # remembered devices after a complete MFA success; 0 = off
    upstream: str = "default"  # "default" ([upstream]) or the <name> of an [upstreams.<name>]
    # RadSec (service/radsec.py): the CA that signs this client's certificate
    # and the name it must show; both or neither (neither: no RadSec).
    radsec_ca: Path | None = None
    radsec_name: str = ""
    radsec_secret: bytes = field(default=RADSEC_SECRET, repr=False)  # RFC 6614 §2.3


def parse_clients(root: Section, upstreams: Mapping[str, object]) -> dict[str, ClientPolicy]:
    """Every ``[clients.<name>]``; ``upstreams`` are the [upstreams.<name>] tables."""
    return {name: _client(c, name, upstreams) for name, c in root.tables("clients")}


def _client(c: Section, name: str, upstreams: Mapping[str, object]) -> ClientPolicy:
    d = ClientPolicy()
    policy = ClientPolicy(
        name=name,
        user_ip_attribute=c.choice("user_ip_attribute", d.user_ip_attribute, USER_IP_ATTRIBUTES),
        mode=c.choice("mode", d.mode, CLIENT_MODES),
        primary=c.choice("primary", d.primary, CLIENT_PRIMARY),
        app_name=c.get("app_name", str, d.app_name),
        app_passwords=c.choice("app_passwords", d.app_passwords, APP_PASSWORD_CHOICES),
        remember_days=c.integer("remember_days", d.remember_days, minimum=0, maximum=365),
        upstream=c.get("upstream", str, d.upstream),
        radsec_ca=tls_file(c, "radsec_ca"),
        radsec_name=cert_name(c, "radsec_name"),
        radsec_secret=c.secret("radsec_secret") or d.radsec_secret,
    )
    if (policy.radsec_ca is None) != (not policy.radsec_name):
        c.fail("radsec_ca" if policy.radsec_ca is None else "radsec_name",
               "RadSec needs both radsec_ca and radsec_name (the CA and the name the client's certificate shows)")
    if len(policy.app_name) > 64 or not policy.app_name.isprintable():
        c.fail("app_name", "must be at most 64 printable characters (it goes into texts and prompts)")
    if policy.upstream != "default" and policy.upstream not in upstreams:
        c.fail("upstream", f"no [upstreams.{policy.upstream}] table")
    c.done()
    return policy


def check_oob_clients(clients: Mapping[str, ClientPolicy], phone: PhoneConfig, path: Path) -> None:
    """An `oob` NAS cannot show a challenge: with no call or push to hold the
    request for, every login through it would fail."""
    if phone.provider("voice") is not None or phone.provider("push") is not None:
        return
    for name, rule in clients.items():
        if rule.mode == "oob":
            raise ConfigError(
                f'{path.name}: [clients.{name}] mode: "oob" holds the request while a call or push is '
                "answered, but neither is configured: set [mfa] voice_provider or push_provider"
            )
