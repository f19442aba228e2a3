"""Settings kept in the store, not in radmfa.toml: the administrator's
day-to-day controls, shared by every process and node, changed with
`radmfa settings set` or the management portal and picked up within
seconds without a restart (service/live_settings.py).

The split: radmfa.toml holds what a node needs to start and what is
secret (listeners, the store, upstreams, providers, keys, clients);
the store holds the policy an administrator changes while the service
runs (``SETTINGS`` below). A setting is never in both: a moved key still
in radmfa.toml is imported into the store once, at start-up, and a file
that disagrees with the store refuses to start (``reconcile``).

Pure: values in, values out; no I/O.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from radmfa.config.fraud import FraudConfig
from radmfa.config.mfa import CACHE_TYPES, NEW_USER_CHOICES, CacheRule, MfaConfig
from radmfa.config.phone import PhoneConfig
from radmfa.config.reader import IpNetwork

Kind = Literal["choice", "bool", "int", "networks", "cache", "emails", "url", "fraud_code"]
MAX_NETWORKS = 10_000
MAX_CACHE_RULES = 100
MAX_EMAILS = 50
MAX_CACHE_SECONDS = 31 * 86400


@dataclass(frozen=True, slots=True)
class StoredSetting:
    name: str  # "mfa.lockout_failures": the section and key it had in radmfa.toml
    kind: Kind
    help: str
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int = 0
    page: str = "settings"  # the management portal's page that edits it
    holder: str = ""  # the Config attribute holding it, when not its section's: "phone" for mfa.fraud_code

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


SETTINGS: Mapping[str, StoredSetting] = {
    s.name: s
    for s in (
        StoredSetting("mfa.new_user", "choice", "an enabled user with no factor: enroll, allow or deny",
                      choices=tuple(NEW_USER_CHOICES)),
        StoredSetting("mfa.trusted_networks", "networks",
                      "user addresses that skip the second factor (address/prefix, one per line)"),
        StoredSetting("mfa.app_passwords", "bool", "app passwords allowed (clients may narrow it)"),
        StoredSetting("mfa.lockout_failures", "int", "second-factor failures in a row that block the user; 0 = never",
                      minimum=0, maximum=1000),
        StoredSetting("mfa.lockout_minutes", "int", "how long a lockout lasts; 0 = until unblocked",
                      minimum=0, maximum=525600),
        StoredSetting("mfa.fraud_code", "fraud_code", 'keys pressed on the call to report fraud: digits then "#"',
                      holder="phone"),
        StoredSetting("fraud.allow_reports", "bool", "a fraud code or \"report fraud\" button records a report"),
        StoredSetting("fraud.block_user", "bool", "a fraud report blocks the user"),
        StoredSetting("fraud.block_days", "int", "how long a fraud block lasts, in days; 0 = until unblocked",
                      minimum=0, maximum=36500),
        StoredSetting("fraud.notify_email", "emails", "addresses mailed each fraud report (needs [smtp]), "
                      "one per line"),
        StoredSetting("fraud.notify_webhook", "url", "a URL POSTed each fraud report as JSON (signed with "
                      "[fraud] webhook_secret_file when given); empty = none"),
        StoredSetting("mfa.cache", "cache", "caching rules: after a complete MFA success, logins matching a rule "
                      "skip the second factor for its seconds (one per line: TYPE SECONDS [CLIENT,CLIENT])",
                      page="cache"),
    )
}


class SettingError(ValueError):
    """A value a setting cannot take; the message names the setting."""


def lookup(name: str) -> StoredSetting:
    found = SETTINGS.get(name)
    if found is None:
        raise SettingError(f"no setting {name!r}; the settings in the store are: {', '.join(SETTINGS)}")
    return found


def parse_text(setting: StoredSetting, text: str) -> Any:
    """A value as typed on the command line or in the portal's form."""
    text = text.strip()
    if setting.kind == "choice":
        if text not in setting.choices:
            raise SettingError(f"{setting.name}: must be one of {', '.join(setting.choices)}, got {text!r}")
        return text
    if setting.kind == "bool":
        if text.lower() not in ("true", "false", "on", "off", "yes", "no"):
            raise SettingError(f"{setting.name}: must be true or false, got {text!r}")
        return text.lower() in ("true", "on", "yes")
    if setting.kind == "int":
        if not text.isdigit() or not setting.minimum <= int(text) <= setting.maximum:
            raise SettingError(f"{setting.name}: must be a whole number from {setting.minimum} to "
                               f"{setting.maximum}, got {text!r}")
        return int(text)
    if setting.kind == "emails":
        return check_emails(setting, [t for t in text.replace(",", "\n").split() if t])
    if setting.kind == "url":
        return check_url(setting, text)
    if setting.kind == "fraud_code":
        if not text.rstrip("#").isdigit() or not text.endswith("#") or len(text) > 10:
            raise SettingError(f'{setting.name}: digits then "#", e.g. "0#", got {text[:20]!r}')
        return text
    if setting.kind == "cache":
        lines = [t for t in text.replace(";", "\n").splitlines() if t.strip()]
        return check_cache(setting, [_cache_line(setting, i, line) for i, line in enumerate(lines, 1)])
    items = [t for t in text.replace(",", "\n").split() if t]
    return check_networks(setting, items)


def _cache_line(setting: StoredSetting, i: int, line: str) -> dict[str, Any]:
    words = line.split()
    if len(words) not in (2, 3):
        raise SettingError(f"{setting.name}: rule {i} ({line.strip()[:60]!r}): give TYPE SECONDS [CLIENT,CLIENT]")
    clients = [c for c in words[2].split(",") if c] if len(words) == 3 else []
    return {"type": words[0], "seconds": words[1], "clients": clients}


def check_emails(setting: StoredSetting, items: list[Any]) -> tuple[str, ...]:
    if len(items) > MAX_EMAILS:
        raise SettingError(f"{setting.name}: at most {MAX_EMAILS} addresses, got {len(items)}")
    for i, item in enumerate(items, 1):
        # One plain address: a newline or comma would add headers or recipients.
        if not isinstance(item, str) or "@" not in item or any(c.isspace() or c in ",;<>" for c in item):
            raise SettingError(f"{setting.name}: address {i} ({str(item)[:60]!r}) is not an e-mail address")
    return tuple(dict.fromkeys(items))


def check_url(setting: StoredSetting, text: Any) -> str:
    if not isinstance(text, str) or (text and not text.startswith(("https://", "http://"))) or len(text) > 2000 \
            or any(c.isspace() for c in text):
        raise SettingError(f"{setting.name}: must be an http:// or https:// URL (or empty), got {str(text)[:60]!r}")
    return text


def check_cache(setting: StoredSetting, items: list[Any]) -> tuple[CacheRule, ...]:
    """Caching rules, each checked as [[mfa.cache]] in radmfa.toml is."""
    if len(items) > MAX_CACHE_RULES:
        raise SettingError(f"{setting.name}: at most {MAX_CACHE_RULES} rules, got {len(items)}")
    out: list[CacheRule] = []
    for i, item in enumerate(items, 1):
        where = f"{setting.name}: rule {i}"
        if not isinstance(item, dict):
            raise SettingError(f"{where}: not a rule")
        kind, seconds, clients = item.get("type"), str(item.get("seconds", "")), item.get("clients", [])
        if kind not in CACHE_TYPES:
            raise SettingError(f"{where}: type must be one of {', '.join(CACHE_TYPES)}, got {str(kind)[:40]!r}")
        if not seconds.isdigit() or not 1 <= int(seconds) <= MAX_CACHE_SECONDS:
            raise SettingError(f"{where}: seconds must be a whole number from 1 to {MAX_CACHE_SECONDS}, "
                               f"got {seconds[:20]!r}")
        if not isinstance(clients, list) or not all(isinstance(c, str) and c.strip() for c in clients):
            raise SettingError(f"{where}: clients must be a list of client names")
        out.append(CacheRule(kind, int(seconds), tuple(c.strip() for c in clients)))
    return tuple(out)


def check_networks(setting: StoredSetting, items: list[Any]) -> tuple[IpNetwork, ...]:
    if len(items) > MAX_NETWORKS:
        raise SettingError(f"{setting.name}: at most {MAX_NETWORKS} networks, got {len(items)}")
    out: list[IpNetwork] = []
    for i, item in enumerate(items, 1):
        try:
            out.append(ipaddress.ip_network(str(item), strict=True))
        except ValueError as e:
            raise SettingError(f"{setting.name}: network {i} ({str(item)[:60]!r}): not a network: {e}") from None
    return tuple(dict.fromkeys(out))  # in the order given, each once


def to_json(setting: StoredSetting, value: Any) -> str:
    if setting.kind == "cache":
        return json.dumps([{"type": r.type, "seconds": r.seconds, "clients": list(r.clients)} for r in value])
    if setting.kind in ("networks", "emails"):
        return json.dumps([str(n) for n in value])
    return json.dumps(value)


def from_json(setting: StoredSetting, text: str) -> Any:
    """A stored value, checked as if typed: a row edited by hand cannot slip past the rules."""
    raw = json.loads(text)
    if setting.kind == "emails":
        if not isinstance(raw, list):
            raise SettingError(f"{setting.name}: stored value is not a list")
        return check_emails(setting, raw)
    if setting.kind == "url":
        return check_url(setting, raw)
    if setting.kind == "cache":
        if not isinstance(raw, list):
            raise SettingError(f"{setting.name}: stored value is not a list")
        return check_cache(setting, raw)
    if setting.kind == "networks":
        if not isinstance(raw, list):
            raise SettingError(f"{setting.name}: stored value is not a list")
        return check_networks(setting, raw)
    if setting.kind == "bool":
        if not isinstance(raw, bool):
            raise SettingError(f"{setting.name}: stored value is not true or false")
        return raw
    return parse_text(setting, str(raw))


def show(setting: StoredSetting, value: Any) -> str:
    """A value as the CLI and the portal show it (and as parse_text reads it back)."""
    if setting.kind in ("networks", "emails"):
        return "\n".join(str(n) for n in value)
    if setting.kind == "cache":
        return "\n".join(f"{r.type} {r.seconds}" + (f" {','.join(r.clients)}" if r.clients else "") for r in value)
    if setting.kind == "bool":
        return "true" if value else "false"
    return str(value)


def _holder_name(setting: StoredSetting) -> str:
    return setting.holder or setting.section


def file_value(config: Any, setting: StoredSetting) -> Any:
    """The value ``config`` (a Config) gives: the file's, or the default."""
    return getattr(getattr(config, _holder_name(setting)), setting.key)


def default_value(setting: StoredSetting) -> Any:
    defaults = {"mfa": MfaConfig(), "phone": PhoneConfig(), "fraud": FraudConfig()}
    return getattr(defaults[_holder_name(setting)], setting.key)


def decode(stored: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The stored settings as values, and a problem line for each one
    that cannot be used (it keeps its file or default value)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, text in stored.items():
        setting = SETTINGS.get(name)
        if setting is None:
            problems.append(f"unknown setting {name!r} in the store (from a newer radmfa?); ignored")
            continue
        try:
            values[name] = from_json(setting, text)
        except (SettingError, ValueError) as e:
            problems.append(f"{name}: unusable stored value ({e}); ignored")
    return values, problems


def apply(mfa: MfaConfig, values: Mapping[str, Any]) -> MfaConfig:
    """``mfa`` with the stored values in place of the file's or the defaults."""
    changes = {SETTINGS[name].key: value for name, value in values.items() if _holder_name(SETTINGS[name]) == "mfa"}
    return replace(mfa, **changes) if changes else mfa


def apply_config(config: Any, values: Mapping[str, Any]) -> Any:
    """``config`` (a Config) with the stored values in each section they belong to."""
    sections: dict[str, Any] = {}
    for holder in ("mfa", "phone", "fraud"):
        changes = {SETTINGS[n].key: v for n, v in values.items() if _holder_name(SETTINGS[n]) == holder}
        if changes:
            sections[holder] = replace(getattr(config, holder), **changes)
    return replace(config, **sections) if sections else config


def given_in_file(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The moved settings a parsed radmfa.toml still gives."""
    return tuple(
        name for name, s in SETTINGS.items()
        if isinstance(doc.get(s.section), Mapping) and s.key in doc[s.section]
    )


def parse_network_lines(text: str) -> tuple[list[IpNetwork], list[str]]:
    """Networks pasted one per line; ``#`` starts a comment, blank lines are
    skipped. Every bad line is reported with its number (the caller saves
    nothing if there is one); a network with host bits set is a bad line."""
    found: list[IpNetwork] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=True))
        except ValueError as e:
            problems.append(f"line {number}: {item[:60]!r}: {e}")
    return found, problems
