"""`radmfa login USER`: log in through a running radmfa the way a VPN would.

Sends an Access-Request with the password; on an Access-Challenge shows the
prompt, reads the code and answers with the State, until an Access-Accept or
Access-Reject. Exit status: 0 accept, 1 reject, 4 no answer (as cli/parsing.py).
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Iterator

from pyrad.dictionary import Dictionary

from radmfa.cli.access_client import AccessClient, NoAnswer, Reply, source_address
from radmfa.cli.output import visible
from radmfa.cli.parsing import EXIT_NO_ANSWER, EXIT_OK, EXIT_REFUSED, CommandError
from radmfa.cli.prompt import read_answer, read_secret
from radmfa.config import Config, HostPort, parse_host_port
from radmfa.core.model import Attr
from radmfa.errors import ConfigError, RadmfaError
from radmfa.radius import wire
from radmfa.radius.clients import load_clients
from radmfa.radius.dictionary import attribute_name, load_dictionary

EXIT_ACCEPT, EXIT_REJECT = EXIT_OK, EXIT_REFUSED
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - mapping, not binding


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "login",
        help="test a login against a running radmfa (password, then code)",
        description=(
            "Sends Access-Requests to radmfa like a VPN would and answers its challenge. "
            "Exit status: 0 Access-Accept, 1 Access-Reject, 4 no answer (2 is a wrong command line)."
        ),
    )
    p.add_argument("user", metavar="USER")
    p.add_argument(
        "--server", type=_server, metavar="HOST:PORT",
        help="default: the first [radius] listen address of the config",
    )
    p.add_argument(
        "--secret", metavar="S",
        help="shared secret; default: the clients.conf secret for this machine's address",
    )
    p.add_argument("--password", metavar="P", help="default: prompt (or one line of stdin)")
    p.add_argument("--nas-ip", default="127.0.0.1", metavar="IP", help="NAS-IP-Address to send")
    p.add_argument("--timeout", type=_seconds, default=5.0, metavar="S", help="seconds per try")
    p.set_defaults(func=cmd_login)


def _server(text: str) -> HostPort:
    try:
        return parse_host_port(text, 1812)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"must be seconds above 0 and at most 60, got {text!r}")
    return value


def cmd_login(args: argparse.Namespace, cfg: Config) -> int:
    server = args.server or _default_server(cfg)
    secret = args.secret.encode("utf-8") if args.secret else _default_secret(cfg, server)
    password = args.password if args.password is not None else read_secret("Password: ")
    username = args.user.encode("utf-8")
    try:
        with AccessClient(server, secret, nas_ip=args.nas_ip, timeout=args.timeout) as client:
            reply = client.send(username, password.encode("utf-8"))
            while reply.code == wire.ACCESS_CHALLENGE:
                reply = client.send(username, _answer(reply), state=_state(reply))
    except NoAnswer as e:
        raise CommandError(str(e), exit_status=EXIT_NO_ANSWER) from None
    print(reply.name)
    if reply.code == wire.ACCESS_ACCEPT:
        for line in describe(reply.attrs, _dictionary(cfg)):
            print(f"  {line}")
        return EXIT_ACCEPT
    for message in reply.messages():
        print(f"  {visible(message)}")
    return EXIT_REJECT


def _answer(challenge: Reply) -> bytes:
    for message in challenge.messages() or ["(Access-Challenge without a prompt)"]:
        print(visible(message))
    return read_answer("Code: ", what="code").encode("utf-8")


def _state(challenge: Reply) -> bytes:
    state = challenge.state
    if state is None:  # RFC 2865 §4.4: a challenge we can answer carries State
        raise RadmfaError("the server sent an Access-Challenge without State; cannot answer it")
    return state


def _default_server(cfg: Config) -> HostPort:
    host, port = cfg.radius.listen[0]
    return _WILDCARDS.get(host, host), port


def _default_secret(cfg: Config, server: HostPort) -> bytes:
    """The secret clients.conf gives the address our packets will come from."""
    source = source_address(server)
    client = load_clients(cfg.radius.clients_file).match(source)
    if client is None:
        raise RadmfaError(
            f"{cfg.radius.clients_file} has no client for {source}, the address this machine "
            "sends from; add one or pass --secret"
        )
    return client.secret


def _dictionary(cfg: Config) -> Dictionary | None:
    try:
        return load_dictionary(cfg.radius.dictionary_file)
    except ConfigError:
        return None  # names fall back to Attr-N; the verdict is what matters here


def describe(attrs: tuple[Attr, ...], dictionary: Dictionary | None) -> Iterator[str]:
    """``Name = value`` lines for reply attributes, Vendor-Specific ones split up."""
    for t, v in attrs:
        if t == wire.MESSAGE_AUTHENTICATOR:
            continue
        if t == wire.VENDOR_SPECIFIC and len(v) > 4:
            yield from _describe_vsa(v, dictionary)
        else:
            yield _line(dictionary, v, t)


def _describe_vsa(value: bytes, dictionary: Dictionary | None) -> Iterator[str]:
    vendor = int.from_bytes(value[:4], "big")
    subs: list[tuple[int, bytes]] = []
    pos = 4
    # RFC 2865 §5.26 suggested format: type, length, value; anything else is shown raw.
    while pos + 2 <= len(value) and value[pos + 1] >= 2 and pos + value[pos + 1] <= len(value):
        subs.append((value[pos], value[pos + 2 : pos + value[pos + 1]]))
        pos += value[pos + 1]
    if pos != len(value):
        yield _line(dictionary, value[4:], wire.VENDOR_SPECIFIC, vendor)
        return
    for sub, data in subs:
        yield _line(dictionary, data, wire.VENDOR_SPECIFIC, vendor, sub)


def _line(
    d: Dictionary | None, value: bytes, t: int, vendor: int | None = None, sub: int | None = None
) -> str:
    if d is None:
        name = f"Attr-{t}" + "".join(f".{n}" for n in (vendor, sub) if n is not None)
        return f"{name} = {_hex(value)}"
    name = attribute_name(d, t, vendor, sub)
    kind = d.attributes[name].type if name in d.attributes else "octets"
    return f"{name} = {_format_value(kind, value)}"


def _format_value(kind: str, value: bytes) -> str:
    if kind == "string":
        try:
            return '"' + visible(value.decode("utf-8")) + '"'
        except UnicodeDecodeError:
            return _hex(value)
    if kind == "integer" and len(value) == 4:
        return str(int.from_bytes(value, "big"))
    if kind == "ipaddr" and len(value) == 4:
        return str(ipaddress.IPv4Address(value))
    if kind == "ipv6addr" and len(value) == 16:
        return str(ipaddress.IPv6Address(value))
    return _hex(value)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()
