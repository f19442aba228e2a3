"""The one reader of radmfa.toml tables: typed reads whose errors name the
file, the table and the key, e.g. ``radmfa.toml: [radius] workers: must be
between 1 and 64, got 99``.

Each key read is taken out of the table, so :meth:`Section.done` can call
whatever is left an unknown setting (a typo never silently does nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from radmfa.errors import ConfigError

HostPort = tuple[str, int]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Choice = TypeVar("Choice", bound=str)


class Section:
    """Typed reads from one TOML table; every error names file, table and key.

    ``name`` is the table's dotted TOML name (``clients.asa``); ``label`` is
    how errors show it, ``[clients.asa]`` unless given (an element of an
    array of tables: ``[mfa] cache[0]``).
    """

    def __init__(self, value: object, name: str, path: Path, *, label: str = "") -> None:
        self.name, self.path = name, path
        self.label = label or f"[{name}]"
        if not isinstance(value, dict):
            self.fail("", "must be a table")
        self.data: dict[str, Any] = dict(value)

    @classmethod
    def document(cls, doc: Mapping[str, Any], path: Path) -> Section:
        """The whole file: its keys are the top-level tables."""
        return cls(dict(doc), "", path)

    def fail(self, key: str, msg: str) -> NoReturn:
        where = f"{self.label} {key}".rstrip()
        raise ConfigError(f"{self.path.name}: {where}: {msg}")

    def table(self, key: str) -> Section:
        """The sub-table ``[<name>.<key>]``, taken out of this one (absent: empty)."""
        return Section(self.data.pop(key, {}), self._child(key), self.path)

    def tables(self, key: str) -> Iterator[tuple[str, Section]]:
        """Each ``[<name>.<key>.<each>]`` table, in the order written: the one
        loop for every "table of named tables" (clients, upstreams, providers)."""
        group = self._child(key)
        value = self.data.pop(key, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.path.name}: [{group}]: must be a table of [{group}.<name>] tables")
        for each, table in value.items():
            yield each, Section(table, f"{group}.{each}", self.path)

    def array_tables(self, key: str) -> Iterator[Section]:
        """Each table of the array of tables ``[[<name>.<key>]]``, in order."""
        for i, table in enumerate(self.get(key, list, [])):
            if not isinstance(table, dict):
                self.fail(f"{key}[{i}]", f"must be a table ([[{self._child(key)}]])")
            yield Section(table, self._child(key), self.path, label=f"{self.label} {key}[{i}]")

    def _child(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in self.data:
            return default
        value = self.data.pop(key)
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.fail(key, f"expected a number, got {value!r}")
        if not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(key, f"expected {want}, got {value!r}")
        return value

    def number(self, key: str, default: float, *, minimum: float, maximum: float) -> float:
        value = float(self.get(key, (int, float), default))
        if not minimum <= value <= maximum:
            self.fail(key, f"must be between {minimum:g} and {maximum:g}, got {value:g}")
        return value

    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.get(key, int, default)
        if not minimum <= value <= maximum:
            self.fail(key, f"must be between {minimum} and {maximum}, got {value}")
        return int(value)

    def choice(self, key: str, default: Choice, choices: tuple[Choice, ...]) -> Choice:
        """One of ``choices`` (a Literal type's ``get_args``), typed as it."""
        value = self.get(key, str, default)
        chosen = one_of(value, choices)
        if chosen is None:
            self.fail(key, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return chosen

    def path_value(self, key: str, default: Path) -> Path:
        """A file name, relative to the directory of the config file."""
        return self._resolve(self.get(key, str, str(default)))

    def _resolve(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else self.path.parent / path

    def host_ports(self, key: str, default: tuple[HostPort, ...], port: int) -> tuple[HostPort, ...]:
        values = self.get(key, list, None)
        if values is None:
            return default
        out = []
        for i, v in enumerate(values):
            if not isinstance(v, str):
                self.fail(f"{key}[{i}]", f'expected "host:port", got {v!r}')
            try:
                out.append(parse_host_port(v, port))
            except ValueError as e:
                self.fail(f"{key}[{i}]", str(e))
        return tuple(out)

    def networks(self, key: str) -> tuple[IpNetwork, ...]:
        out: list[IpNetwork] = []
        for i, text in enumerate(self.get(key, list, [])):
            if not isinstance(text, str):
                self.fail(f"{key}[{i}]", f'expected "address/prefix", got {text!r}')
            try:
                out.append(ipaddress.ip_network(text, strict=True))
            except ValueError as e:
                # strict: 10.1.2.3/24 is more likely a typo than a wish for 10.1.2.0/24.
                self.fail(f"{key}[{i}]", f"not a network: {e}")
        return tuple(out)

    def mailbox(self, key: str, value: object) -> str:
        """One plain address; a newline or comma would add headers or recipients."""
        if not isinstance(value, str) or "@" not in value or any(c.isspace() or c in ",;<>" for c in value):
            self.fail(key, f"not an email address: {value!r}")
        return value

    def secret(self, key: str) -> bytes:
        """``key`` itself or the file named by ``<key>_file`` (one line, read
        now), never both; b"" when neither is given."""
        value = self.get(key, str, None)
        file = self.get(f"{key}_file", str, None)
        if value is not None and file is not None:
            self.fail(f"{key}_file", f"give either {key} or {key}_file, not both")
        if file is None:
            return (value or "").encode("utf-8")
        return self._read(f"{key}_file", self._resolve(file))

    def secret_text(self, key: str) -> str:
        """:meth:`secret` as text (a password sent to a directory or a provider)."""
        try:
            return self.secret(key).decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{key}_file", "must hold UTF-8 text")

    def secret_file(self, key: str) -> bytes:
        """The contents of the file named by ``key`` (secrets stay out of
        radmfa.toml); b"" when not given, an error when the file is empty."""
        name = self.get(key, str, None)
        if name is None:
            return b""
        path = self._resolve(name)
        secret = self._read(key, path)
        if not secret:
            # An empty key would quietly mean no secret (an unsigned webhook).
            self.fail(key, f"{path} is empty")
        return secret

    def _read(self, key: str, path: Path) -> bytes:
        try:
            return path.read_bytes().rstrip(b"\r\n")
        except OSError as e:
            self.fail(key, f"cannot read {path}: {e.strerror}")

    def done(self) -> None:
        for key in self.data:
            self.fail(key, "unknown setting")


def one_of(value: object, choices: tuple[Choice, ...]) -> Choice | None:
    """``value`` typed as the member of ``choices`` it equals, else None."""
    return next((choice for choice in choices if choice == value), None)


def parse_host_port(text: str, default_port: int) -> HostPort:
    """'10.0.0.1:1812', '[::1]:1812', 'host' → (host, port)."""
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not host:port: {text!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"not a port number in {text!r}")
        port = int(port_text)
    if not host:
        raise ValueError(f"not host:port: {text!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not all(part.isalnum() or "-" in part for part in host.split(".")):
            raise ValueError(f"not an IP address or host name: {text!r}") from None
    return host, port


def format_host_port(host: str, port: int) -> str:
    """(host, port) → the text parse_host_port reads back: an IPv6 address in
    brackets (RFC 3986 §3.2.2), so the port is not taken for part of it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (a name is not resolved: no I/O here)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
