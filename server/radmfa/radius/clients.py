"""FreeRADIUS-syntax ``clients.conf``: which NAS may talk to us, with which secret.

The shared secret is chosen by the packet's source IP (RFC 2865 §3), the most
specific client network winning (FreeRADIUS ``raddb/clients.conf``: "the
BEST match is chosen"). Syntax and fields follow FreeRADIUS v3.2
(``src/main/client.c``; checklist §2 and §12.1). Differences: host names are
not resolved (write the address), ``${var}`` references are refused, and
per-listener ``clients NAME { … }`` lists are not supported.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from radmfa.errors import ConfigError

__all__ = ["Client", "ClientTable", "load_clients", "parse_clients"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# [DEPRECATE] "Shared Secrets": warn if the secret is 12 octets or less.
SHORT_SECRET = 12
CACHE_SIZE = 65536

_TRI_STATE = {"yes": "yes", "true": "yes", "1": "yes",
              "no": "no", "false": "no", "0": "no", "auto": "auto"}
_ADDRESS_KEYS = ("ipaddr", "ipv4addr", "ipv6addr")
_FAMILY = {"ipaddr": None, "ipv4addr": 4, "ipv6addr": 6}
# Parsed by FreeRADIUS, meaningless for radmfa: accepted and ignored.
_IGNORED_KEYS = frozenset({"nas_type", "proto", "virtual_server", "response_window",
                           "coa_server", "login", "password", "src_ipaddr", "protocol_error"})
_IGNORED_SECTIONS = frozenset({"limit", "tls"})
_KNOWN_KEYS = frozenset({*_ADDRESS_KEYS, "netmask", "secret", "shortname",
                         "require_message_authenticator", "limit_proxy_state"}) | _IGNORED_KEYS
_INCLUDE = {"$INCLUDE": False, "$INCLUDE-": True, "$-INCLUDE": True}  # → optional?
_INCLUDABLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # files read from an included dir
_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t"}


@dataclass(frozen=True, slots=True)
class Client:
    """One ``client NAME { … }`` section."""

    name: str
    network: IPNetwork
    secret: bytes = field(repr=False)  # never shown in logs or reprs
    shortname: str
    require_message_authenticator: str  # "yes" | "no" | "auto"
    limit_proxy_state: str  # "yes" | "no" | "auto"
    source: str  # "path:line" of the section


class ClientTable:
    """The clients, matched by source address, most specific network first."""

    __slots__ = ("warnings", "_clients", "_index", "_cache")

    def __init__(self, clients: Iterable[Client] = (), warnings: Iterable[str] = ()) -> None:
        notes = list(warnings)
        self._clients = _deduplicate(clients, notes)
        self.warnings: tuple[str, ...] = tuple(notes)
        self._index = {4: _prefix_index(self._clients, 4), 6: _prefix_index(self._clients, 6)}
        self._cache: dict[str, Client | None] = {}

    def match(self, ip: str) -> Client | None:
        """The client for a packet from ``ip``, or None (drop the packet)."""
        try:
            return self._cache[ip]
        except KeyError:
            pass
        client = self._lookup(ip)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[ip] = client
        return client

    def __len__(self) -> int:
        return len(self._clients)

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients)

    def _lookup(self, ip: str) -> Client | None:
        try:
            addr = ipaddress.ip_address(ip.partition("%")[0])  # drop an IPv6 scope id
        except ValueError:
            return None
        if addr.version == 6 and addr.ipv4_mapped is not None:  # ::ffff:a.b.c.d
            addr = addr.ipv4_mapped
        value, bits = int(addr), addr.max_prefixlen
        for prefix, networks in self._index[addr.version]:
            client = networks.get(value >> (bits - prefix))
            if client is not None:
                return client
        return None



_SECRET_KEYS = frozenset(("secret", "password"))

def _prefix_index(clients: Iterable[Client], version: int) -> list[tuple[int, dict[int, Client]]]:
    """[(prefix length, {network bits: client})], longest prefix first."""
    by_prefix: dict[int, dict[int, Client]] = {}
    for c in clients:
        if c.network.version == version:
            net = c.network
            bits = int(net.network_address) >> (net.max_prefixlen - net.prefixlen)
            by_prefix.setdefault(net.prefixlen, {})[bits] = c
    return sorted(by_prefix.items(), reverse=True)


def _deduplicate(clients: Iterable[Client], notes: list[str]) -> tuple[Client, ...]:
    """FreeRADIUS client_add(): identical duplicates warn, conflicting ones fail."""
    kept: list[Client] = []
    by_network: dict[IPNetwork, Client] = {}
    by_name: dict[str, Client] = {}
    for c in clients:
        first = by_network.get(c.network)
        if first is not None:
            if _settings(first) != _settings(c):
                raise ConfigError(
                    f'{_where(c.source)}: client "{c.name}" has the same network {c.network} '
                    f'as client "{first.name}" ({_where(first.source)}) but a different '
                    "secret or settings; remove one of them")
            notes.append(f'{_where(c.source)}: client "{c.name}" repeats client "{first.name}" '
                         f"({_where(first.source)}); the repeat is ignored")
            continue
        if c.name in by_name:
            raise ConfigError(
                f'{_where(c.source)}: client name "{c.name}" is already used at '
                f"{_where(by_name[c.name].source)}; client names must be unique")
        by_network[c.network] = by_name[c.name] = c
        kept.append(c)
    return tuple(kept)


def _settings(c: Client) -> tuple[bytes, str, str]:
    """What decides how a packet from the network is checked."""
    return (c.secret, c.require_message_authenticator, c.limit_proxy_state)


def _where(source: str) -> str:
    path, _, line = source.rpartition(":")
    return f"{path} line {line}" if path and line.isdigit() else source


def parse_clients(text: str, filename: str = "clients.conf") -> ClientTable:
    """Parse clients.conf text; $INCLUDE paths are relative to ``filename``'s directory."""
    lexer = _Lexer()
    lexer.lex(text, filename)
    root = _Parser(lexer.tokens).parse(filename)
    warnings: list[str] = []
    return ClientTable([_client(s, warnings) for s in _client_sections(root)], warnings)


def load_clients(path: str | os.PathLike[str]) -> ClientTable:
    """Read and parse a clients.conf file."""
    name = os.fspath(path)
    return parse_clients(_read(name, ""), name)


def _read(path: str, where: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"{where}cannot read {path}: {exc.strerror or exc}") from None
    # surrogateescape keeps any non-UTF-8 octets of a secret exactly as written
    return data.decode("utf-8", "surrogateescape")


def _fail(file: str, line: int, message: str) -> ConfigError:
    return ConfigError(f"{file} line {line}: {message}")


# --- lexer: lines → tokens ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "quoted", "{", "}", "=", "eol"
    value: bytes
    file: str
    line: int
    expands: bool = False  # FreeRADIUS would expand ${…} in it (bare or "double")

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", "surrogateescape")


class _Lexer:
    def __init__(self) -> None:
        self.tokens: list[_Token] = []
        self._open: list[str] = []  # files being read, to refuse recursive includes

    def lex(self, text: str, filename: str) -> None:
        self._open.append(os.path.realpath(filename))
        continued = False
        for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
            tokens, more = _lex_line(raw.rstrip("\r"), filename, number)
            if not continued and tokens and tokens[0].kind == "word" and tokens[0].text in _INCLUDE:
                self._include(tokens)
            else:
                self.tokens.extend(tokens)
            if not more:
                self.tokens.append(_Token("eol", b"", filename, number))
            continued = more
        self._open.pop()

    def _include(self, tokens: list[_Token]) -> None:
        head = tokens[0]
        if len(tokens) != 2 or tokens[1].kind not in ("word", "quoted"):
            raise _fail(head.file, head.line, f"{head.text} needs exactly one file name")
        target = _plain(tokens[1], head.text)
        path = os.path.join(os.path.dirname(head.file), target)
        if _INCLUDE[head.text] and not os.path.exists(path):
            return
        paths = [path]
        if os.path.isdir(path):  # FreeRADIUS reads every plain file in the directory
            paths = [os.path.join(path, n) for n in sorted(os.listdir(path))
                     if _INCLUDABLE.fullmatch(n) and os.path.isfile(os.path.join(path, n))]
        for p in paths:
            if os.path.realpath(p) in self._open:
                raise _fail(head.file, head.line, f"{p} includes itself")
            self.lex(_read(p, f"{head.file} line {head.line}: "), p)


def _lex_line(line: str, file: str, number: int) -> tuple[list[_Token], bool]:
    """Tokens of one physical line, and whether it ends in a '\\' continuation."""
    tokens: list[_Token] = []
    i, after_equals = 0, False
    while i < len(line):
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":  # a comment starts where a token could start, never inside one
            break
        if ch in "{}=":
            tokens.append(_Token(ch, b"", file, number))
            after_equals, i = ch == "=", i + 1
            continue
        if ch in "\"'":
            value, i = _lex_quoted(line, i, file, number)
            tokens.append(_Token("quoted", value, file, number, expands=ch == '"'))
        elif ch == "`":
            raise _fail(file, number, "back-quoted (command) strings are not supported")
        else:
            end = i
            # A value after '=' runs to the next space, as in FreeRADIUS ("a=b" is one word).
            while end < len(line) and not line[end].isspace() and (
                    after_equals or line[end] not in "{}="):
                end += 1
            word = line[i:end]
            if word == "\\" and not line[end:].strip():
                return tokens, True
            tokens.append(_Token("word", _bytes(word), file, number, expands=True))
            i = end
        after_equals = False
    return tokens, False


def _lex_quoted(line: str, start: int, file: str, number: int) -> tuple[bytes, int]:
    """A '…' or "…" string from line[start]; returns (value, index after it)."""
    quote, out, i = line[start], bytearray(), start + 1
    while i < len(line):
        ch = line[i]
        if ch == quote:
            return bytes(out), i + 1
        if ch == "\\" and i + 1 < len(line):
            i = _escape(line, i + 1, quote, out, (file, number))
            continue
        out += _bytes(ch)
        i += 1
    raise _fail(file, number, f"unterminated quoted string; add the closing {quote}")


def _escape(line: str, i: int, quote: str, out: bytearray, at: tuple[str, int]) -> int:
    """Append the escape at line[i] (after a backslash); return the next index.

    Double quotes, like FreeRADIUS getthing(): \\n \\r \\t, up to three octal
    digits for any octet ("\\101" is "A", "\\000" a NUL), and \\x for any
    other x. Single quotes only escape \\' and \\\\.
    """
    ch = line[i]
    if quote == "'":
        out += _bytes(ch if ch in "'\\" else "\\" + ch)
        return i + 1
    digits = re.match(r"[0-7]{1,3}", line[i:i + 3])
    if digits:
        value = int(digits.group(), 8)
        if value > 255:
            raise _fail(*at, f"octal escape \\{digits.group()} is larger than one octet")
        out.append(value)
        return i + len(digits.group())
    out += _ESCAPES.get(ch, _bytes(ch))
    return i + 1


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# --- parser: tokens → sections -----------------------------------------------


@dataclass(slots=True)
class _Section:
    kind: str
    name: str | None
    file: str
    line: int
    pairs: list[tuple[str, _Token]] = field(default_factory=list)
    sections: list[_Section] = field(default_factory=list)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._pos = 0

    def parse(self, filename: str) -> _Section:
        root = _Section("", None, filename, 0)
        self._fill(root)
        return root

    def _peek(self, ahead: int = 0) -> _Token | None:
        pos = self._pos + ahead
        return self._tokens[pos] if pos < len(self._tokens) else None

    def _take(self) -> _Token | None:
        token = self._peek()
        self._pos += 1
        return token

    def _fill(self, section: _Section) -> None:
        top = section.line == 0
        while (token := self._take()) is not None:
            if token.kind == "eol":
                continue
            if token.kind == "}":
                if top:
                    raise _fail(token.file, token.line, "'}' closes no open section")
                return
            if token.kind not in ("word", "quoted"):
                raise _fail(token.file, token.line, f"unexpected '{token.kind}'")
            self._statement(section, token)
        if not top:
            label = f'{section.kind} "{section.name}"' if section.name else section.kind
            raise _fail(section.file, section.line, f"{label} is not closed; add a '}}'")

    def _statement(self, section: _Section, head: _Token) -> None:
        nxt, after = self._peek(), self._peek(1)
        kind = nxt.kind if nxt else "eol"
        if kind == "=":
            self._take()
            value = self._take()
            if value is None or value.kind not in ("word", "quoted"):
                raise _fail(head.file, head.line, f"{head.text!r} has no value")
            end = self._peek()
            if end is not None and end.kind not in ("eol", "}"):
                # Never echo what follows a secret: it is part of the secret.
                shown = "text" if head.text.lower() in _SECRET_KEYS else repr(end.text or end.kind)
                raise _fail(end.file, end.line, f"unexpected {shown} after "
                            f"the value of {head.text!r}; quote values that contain spaces")
            section.pairs.append((head.text, value))
            return
        name: str | None = None
        if nxt is not None and kind in ("word", "quoted") and after and after.kind == "{":
            name, kind = nxt.text, "{"
            self._take()
        if kind != "{":
            raise _fail(head.file, head.line, f"expected '=' or '{{' after {head.text!r}")
        self._take()
        child = _Section(head.text, name, head.file, head.line)
        self._fill(child)
        section.sections.append(child)


# --- sections → clients ------------------------------------------------------


def _client_sections(root: _Section) -> list[_Section]:
    if root.pairs:
        key, token = root.pairs[0]
        raise _fail(token.file, token.line, f"{key!r} is outside a client section")
    for s in root.sections:
        if s.kind != "client":
            raise _fail(s.file, s.line, f"unexpected section {s.kind!r}; clients.conf "
                        "holds only 'client NAME { ... }' sections")
    return root.sections


def _client(section: _Section, warnings: list[str]) -> Client:
    if not section.name:
        raise _fail(section.file, section.line,
                    "a client section needs a name: client NAME { ... }")
    label = f'client "{section.name}"'
    values = _values(section, label)
    secret = values.get("secret")
    if secret is None:
        raise _fail(section.file, section.line, f"{label} has no secret")
    proto = values.get("proto")
    if proto is not None and proto.text.lower() not in ("udp", "*"):
        warnings.append(f"{proto.file} line {proto.line}: {label} has proto = {proto.text}; "
                        "radmfa serves RADIUS over UDP only")
    return Client(
        name=section.name,
        network=_network(section, values, label, warnings),
        secret=_secret(secret, label, warnings),
        shortname=_plain(values["shortname"], "shortname") if "shortname" in values
        else section.name,
        require_message_authenticator=_tri_state(values, "require_message_authenticator", "yes"),
        limit_proxy_state=_tri_state(values, "limit_proxy_state", "auto"),
        source=f"{section.file}:{section.line}",
    )


def _values(section: _Section, label: str) -> dict[str, _Token]:
    for child in section.sections:
        if child.kind not in _IGNORED_SECTIONS:
            raise _fail(child.file, child.line, f"unknown section {child.kind!r} in {label}")
    values: dict[str, _Token] = {}
    for key, token in section.pairs:
        if key not in _KNOWN_KEYS:
            close = difflib.get_close_matches(key, sorted(_KNOWN_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(token.file, token.line, f"unknown key {key!r} in {label}{hint}")
        if key in values:
            raise _fail(token.file, token.line,
                        f"{key} is set twice in {label} (first on line {values[key].line})")
        values[key] = token
    addresses = [k for k in _ADDRESS_KEYS if k in values]
    if len(addresses) > 1:
        second = values[addresses[1]]
        raise _fail(second.file, second.line, f"{label} sets both {addresses[0]} and "
                    f"{addresses[1]}; use only one of ipaddr, ipv4addr, ipv6addr")
    return values


def _plain(token: _Token, key: str) -> str:
    """The token's text, refusing FreeRADIUS ${…} references we cannot expand."""
    if token.expands and b"${" in token.value:
        raise _fail(token.file, token.line, f"{key}: variable references such as ${{confdir}} "
                    "are not supported; write the value out")
    return token.text


def _secret(token: _Token, label: str, warnings: list[str]) -> bytes:
    _plain(token, "secret")
    if not token.value:  # RFC 2865 §3: the secret MUST NOT be empty
        raise _fail(token.file, token.line, f"{label} has an empty secret")
    if len(token.value) <= SHORT_SECRET:
        warnings.append(f"{token.file} line {token.line}: {label} has a short shared secret "
                        f"({len(token.value)} bytes); use at least 16 random characters")
    return token.value


def _tri_state(values: dict[str, _Token], key: str, default: str) -> str:
    token = values.get(key)
    if token is None:
        return default
    word = token.text.lower()
    if word not in _TRI_STATE:
        raise _fail(token.file, token.line, f"{key} must be yes, no or auto, not {token.text!r}")
    return _TRI_STATE[word]


def _network(section: _Section, values: dict[str, _Token], label: str,
             warnings: list[str]) -> IPNetwork:
    key = next((k for k in _ADDRESS_KEYS if k in values), None)
    if key is None:  # FreeRADIUS 1.x form: client 192.0.2.1 { … }
        file, line, text, family = section.file, section.line, section.name or "", None
        if _address(text, None) is None:
            raise _fail(file, line, f"{label} has no ipaddr, ipv4addr or ipv6addr")
    else:
        token = values[key]
        file, line, text, family = token.file, token.line, _plain(token, key), _FAMILY[key]
    parsed = _address(text, family)
    if parsed is None:
        hint = " (host names are not resolved; write the IP address)" if re.search(
            "[g-zG-Z]", text) else ""
        raise _fail(file, line, f"not an IP address or CIDR: {text!r}{hint}")
    addr, prefix = parsed
    if prefix is None:
        prefix = _netmask(values, addr, label) if "netmask" in values else addr.max_prefixlen
    elif "netmask" in values and _netmask(values, addr, label) != prefix:
        mask = values["netmask"]
        raise _fail(mask.file, mask.line, f"{label} gives both /{prefix} and netmask = "
                    f"{mask.text}; keep one")
    network = ipaddress.ip_network((addr, prefix), strict=False)
    if network.network_address != addr:  # FreeRADIUS masks the host bits too
        warnings.append(f"{file} line {line}: {label}: {text} has host bits set; "
                        f"read as {network}")
    return network


def _address(text: str, family: int | None) -> tuple[IPAddress, int | None] | None:
    """(address, prefix or None) of "a.b.c.d", "addr/len", "*" or "::"; None if invalid."""
    if text == "*":  # any address of the family; bare ipaddr means IPv4
        return (ipaddress.IPv6Address("::") if family == 6 else ipaddress.IPv4Address(0)), 0
    host, slash, length = text.partition("/")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    if family is not None and addr.version != family:
        return None
    if not slash:  # "ipv6addr = ::" and "0.0.0.0" mean any, as in FreeRADIUS
        return addr, 0 if addr.is_unspecified else None
    if not length.isdigit() or int(length) > addr.max_prefixlen:
        return None
    return addr, int(length)


def _netmask(values: dict[str, _Token], addr: IPAddress, label: str) -> int:
    token = values["netmask"]
    text = token.text
    if not text.isdigit() or int(text) > addr.max_prefixlen:
        raise _fail(token.file, token.line, f"netmask in {label} must be a prefix length "
                    f"from 0 to {addr.max_prefixlen}, not {text!r}")
    return int(text)
