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

from radmfa.config.mfa import NEW_USER_CHOICES, MfaConfig
from radmfa.config.reader import IpNetwork

Kind = Literal["choice", "bool", "int", "networks"]
MAX_NETWORKS = 10_000


@dataclass(frozen=True, slots=True)
class StoredSetting:
    name: str  # "mfa.lockout_failures": the section and key it had in radmfa.toml
    kind: Kind
    help: str
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int = 0

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
    items = [t for t in text.replace(",", "\n").split() if t]
    return check_networks(setting, items)


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
    if setting.kind == "networks":
        return json.dumps([str(n) for n in value])
    return json.dumps(value)


def from_json(setting: StoredSetting, text: str) -> Any:
    """A stored value, checked as if typed: a row edited by hand cannot slip past the rules."""
    raw = json.loads(text)
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
    if setting.kind == "networks":
        return "\n".join(str(n) for n in value)
    if setting.kind == "bool":
        return "true" if value else "false"
    return str(value)


def file_value(mfa: MfaConfig, setting: StoredSetting) -> Any:
    return getattr(mfa, setting.key)


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
    changes = {SETTINGS[name].key: value for name, value in values.items() if SETTINGS[name].section == "mfa"}
    return replace(mfa, **changes) if changes else mfa


def given_in_file(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The moved settings a parsed radmfa.toml still gives."""
    return tuple(
        name for name, s in SETTINGS.items()
        if isinstance(doc.get(s.section), Mapping) and s.key in doc[s.section]
    )
