"""``[clients.<name>]``: how radmfa treats one NAS of clients.conf."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from radmfa.config.phone import PhoneConfig
from radmfa.config.reader import Section
from radmfa.config.tls import RADSEC_SECRET, cert_name, tls_file
from radmfa.core.model import AppPasswordMode, ClientMode, Primary, UpstreamChallenge
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
# The upstream's own Access-Challenge: "relay" it, then radmfa's factor;
# "reject" the login; "relay-only": relay it, and it replaces radmfa's factor.
UPSTREAM_CHALLENGE_CHOICES: tuple[UpstreamChallenge, ...] = get_args(UpstreamChallenge)


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
    upstream_challenge: UpstreamChallenge = "relay"
    # Disconnect-Requests (RFC 5176) to end a user's live sessions on this NAS:
    # its Dynamic Authorization port, and the secret (b"" = the clients.conf secret).
    coa_port: int = 3799
    coa_secret: bytes = b""

    # A push offers three numbers and the Access-Challenge shows the right
    # one. Off when the key is absent: a NAS that cannot show a challenge
    # (RD Gateway, oob) would fail every push (docs/configuration.md).
    push_number_matching: bool = False
    # RadSec (service/radsec.py): the CA that signs this client's certificate
    # and the name it must show; both or neither (neither: no RadSec).
    radsec_ca: Path | None = None
    radsec_name: str = ""
    radsec_secret: bytes = field(default=RADSEC_SECRET, repr=False)  # RFC 6614 §2.3

    def __repr__(self) -> str:
        return f"ClientPolicy(name={self.name!r}, mode={self.mode!r}, coa_port={self.coa_port}, coa_secret=<redacted>)"


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
        upstream_challenge=c.choice("upstream_challenge", d.upstream_challenge, UPSTREAM_CHALLENGE_CHOICES),
        coa_port=c.integer("coa_port", d.coa_port, minimum=1, maximum=65535),
        coa_secret=c.secret("coa_secret"),
        push_number_matching=c.get("push_number_matching", bool, d.push_number_matching),
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


def number_matching_warning(
    names: Iterable[str], policies: Mapping[str, ClientPolicy], phone: PhoneConfig
) -> str | None:
    """With a push provider, the start-up warning naming the clients.conf
    clients whose pushes go out without number matching (a client without
    a [clients.<name>] table has it off); None when every one has it."""
    if phone.provider("push") is None:
        return None
    off = sorted(n for n in names if not (policies.get(n) or ClientPolicy()).push_number_matching)
    if not off:
        return None
    return (f"push without number matching for {', '.join(off)}: a push can be approved without looking; "
            "set [clients.<name>] push_number_matching = true where the NAS shows challenge text")
