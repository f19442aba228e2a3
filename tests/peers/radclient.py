"""Drive FreeRADIUS's `radclient` (3.2) as the NAS and parse what it prints with -x.

What radclient 3.2.1 prints on stdout with -x, one block per packet:

    Sent Access-Request Id 244 from 0.0.0.0:55690 to 127.0.0.1:18120 length 63
    \tUser-Name = "alice"
    \tUser-Password = "alice-pw"
    \tMessage-Authenticator = 0x00
    \tCleartext-Password = "alice-pw"      <- radclient's own, not on the wire
    Received Access-Accept Id 244 from 127.0.0.1:18120 to 127.0.0.1:55690 length 93
    \tFilter-Id = "vpn-users"
    \tClass = 0x6772702d616c696365         <- octets in hex
    \tSession-Timeout = 3600               <- integers and enum names bare
    (0) No reply from server for ID 181 socket 3     <- after the last retry

Requests go out in file order; with -p N, N at a time. A retransmission
repeats the "Sent" block with the same Id. Strings are printed
in double quotes with C escapes (\\", \\\\, \\t, \\n, \\ooo octal for bytes that
are not printable UTF-8). A reply whose authenticator does not verify (wrong
secret) is reported on stderr and then counted as "No reply". radclient's own
exit status is 1 whenever a reply is not the code it "expected" (Access-Accept
for auth), so it is kept but not used.

Two traps in 3.2.1, both measured here:
* Sending one packet at a time (the default -p 1), radclient stops reading its
  file after the first packet that gets no reply: later packets are never sent.
  run_radclient reports them as Reply(code=None, id=None); pass
  parallel=len(packets) when several may go unanswered.
* Timeouts are checked against a whole-second clock, so a lost packet costs
  between `timeout` and `timeout + 1` seconds per try.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.freeradius import quote

Packet = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]  # bytes: exact octets

_SENT = re.compile(r"^Sent (?P<code>\S+) Id (?P<id>\d+) ")
_RECEIVED = re.compile(r"^Received (?P<code>\S+) Id (?P<id>\d+) ")
_NO_REPLY = re.compile(r"^\(\d+\) No reply from server for ID (?P<id>\d+)")
_ATTRIBUTE = re.compile(r"^\t(?P<name>\S+) = (?P<value>.*)$")
_ESCAPE = re.compile(rb"\\([0-7]{3}|.)")
_SIMPLE_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t"}


class RadclientError(RuntimeError):
    """radclient could not be run, or printed something this parser does not know."""


@dataclass(frozen=True)
class Reply:
    """One request's outcome: the reply code (None when nothing came back) and attributes.

    `id` is None when radclient never sent the packet (see the module's traps).

    Names and values are as radclient prints them, except that double-quoted
    strings are unquoted and unescaped: ("State", "0x0102"), ("Reply-Message",
    "Enter code"), ("Session-Timeout", "3600").
    """

    code: str | None
    attrs: list[tuple[str, str]] = field(default_factory=list)
    id: int | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)
    raw: str = ""

    def get(self, name: str) -> str | None:
        """The first value of attribute `name`, or None."""
        return next((value for key, value in self.attrs if key == name), None)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.attrs if key == name]


class Replies(list[Reply]):
    """The replies in the order the requests were sent, plus radclient's raw output."""

    def __init__(self, replies: list[Reply], argv: list[str], stdout: str, stderr: str,
                 returncode: int) -> None:
        super().__init__(replies)
        self.argv = argv
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = returncode

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def unquote(value: str) -> str:
    """radclient's printed value: strings lose their quotes and escapes, the rest stays."""
    if len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
        return value

    def unescape(match: re.Match[bytes]) -> bytes:
        escaped = match.group(1)
        if len(escaped) == 3:
            return bytes([int(escaped, 8) & 0xFF])
        return _SIMPLE_ESCAPES.get(escaped, escaped)

    raw = _ESCAPE.sub(unescape, value[1:-1].encode())
    return raw.decode("utf-8", errors="backslashreplace")


def render_packets(packets: Sequence[Packet], message_authenticator: bool) -> str:
    """radclient's input file: one `Name = "value"` a line, a blank line between packets."""
    blocks = []
    for packet in packets:
        items = list(packet.items()) if isinstance(packet, Mapping) else list(packet)
        names = {name for name, _ in items}
        if message_authenticator and "Message-Authenticator" not in names:
            # radclient replaces the placeholder with a real HMAC-MD5 (RFC 3579 §3.2).
            items.append(("Message-Authenticator", "0x00"))
        blocks.append("".join(f"{name} = {_value(value)}\n" for name, value in items))
    return "\n".join(blocks)


def quote_octets(value: bytes) -> str:
    """Exact octets as a double-quoted radclient string: anything but printable
    ASCII as a C octal escape, so NUL, DEL and bytes that are not UTF-8 reach
    the wire unchanged (measured: a trailing \\000 is sent, though -x output
    stops printing at it)."""
    out = []
    for octet in value:
        char = chr(octet)
        out.append("\\" + char if char in '"\\' else char if 0x20 <= octet < 0x7F else f"\\{octet:03o}")
    return '"' + "".join(out) + '"'


def _value(value: str | bytes) -> str:
    return quote_octets(value) if isinstance(value, bytes) else quote(value)


@dataclass
class _Pending:
    id: int
    sent: list[tuple[str, str]] = field(default_factory=list)
    answered: bool = False
    code: str | None = None
    attrs: list[tuple[str, str]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    def reply(self) -> Reply:
        return Reply(self.code, self.attrs, self.id, self.sent, "\n".join(self.raw))


def parse_output(stdout: str, expected: int = 0) -> list[Reply]:
    """Pair every sent request with its reply (or None) by Id, in sending order.

    The list is padded to `expected` entries with never-sent Replies (id None).
    """
    requests: list[_Pending] = []
    attrs: list[tuple[str, str]] | None = None  # where indented attribute lines go
    raw: list[str] = []
    for line in stdout.splitlines():
        attribute = _ATTRIBUTE.match(line)
        if attribute:
            if attrs is not None:
                attrs.append((attribute["name"], unquote(attribute["value"])))
                raw.append(line)
            continue
        attrs, raw = None, []
        if sent := _SENT.match(line):
            ident = int(sent["id"])
            if _unanswered(requests, ident) is None:  # else a retransmission
                requests.append(_Pending(ident))
                attrs = requests[-1].sent
        elif received := _RECEIVED.match(line):
            pending = _answer(requests, int(received["id"]), line)
            pending.code = received["code"]
            attrs, raw = pending.attrs, pending.raw
            raw.append(line)
        elif no_reply := _NO_REPLY.match(line):
            _answer(requests, int(no_reply["id"]), line).raw.append(line)
    replies = [request.reply() for request in requests]
    unsent = Reply(None, raw="not sent: radclient stops after a packet gets no reply")
    return replies + [unsent] * (expected - len(replies))


def _unanswered(requests: list[_Pending], ident: int) -> _Pending | None:
    return next((r for r in requests if r.id == ident and not r.answered), None)


def _answer(requests: list[_Pending], ident: int, line: str) -> _Pending:
    pending = _unanswered(requests, ident)
    if pending is None:
        raise RadclientError(f"radclient printed {line!r} for no outstanding request")
    pending.answered = True
    return pending


def server_name(server: str | tuple[str, int]) -> str:
    """"host:port" for radclient; a (host, port) pair is joined, IPv6 in brackets."""
    if isinstance(server, str):
        return server
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_radclient(
    server: str | tuple[str, int],
    secret: str,
    packets: Sequence[Packet],
    code: str = "auth",
    timeout: float = 30.0,
    retries: int = 1,
    extra_args: Sequence[str] = (),
    *,
    message_authenticator: bool = True,
    parallel: int = 1,
    binary: str = "radclient",
) -> Replies:
    """Send `packets` with `radclient -x` to `server` and return one Reply each, in order.

    `server` is "host:port" (IPv6: "[::1]:1812") or a (host, port) pair.

    `code` is radclient's command: auth, status, acct, coa, disconnect.
    `retries` is radclient's -r: the number of times each packet is sent in
    all (1 = no retransmission); each waits `timeout` seconds. The default
    is generous, for busy machines; a test that expects no reply passes a
    short one. Every packet
    gets `Message-Authenticator = 0x00` (radclient fills in the real one)
    unless `message_authenticator=False` or the packet already names it.
    `parallel` is radclient's -p: how many requests are outstanding at once.
    """
    if not packets:
        raise ValueError("run_radclient needs at least one packet")
    if shutil.which(binary) is None:
        raise RadclientError(f"{binary!r} is not installed (Debian package freeradius-utils)")
    with tempfile.TemporaryDirectory(prefix="radmfa-radclient-") as directory:
        packet_file = Path(directory) / "packets"
        packet_file.write_text(render_packets(packets, message_authenticator))
        argv = [binary, "-x", "-t", f"{timeout:g}", "-r", str(retries), "-p", str(parallel),
                "-f", str(packet_file), *extra_args, server_name(server), code, secret]
        # Up to (timeout + 1 s) per try and packet; leave room for process start-up.
        limit = len(packets) * (timeout + 1) * max(retries, 1) + 10
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="replace",  # noqa: S603
                                  timeout=limit, check=False)
        except subprocess.TimeoutExpired as error:
            raise RadclientError(f"radclient did not finish within {limit:g} s: {argv}") from error
    replies = parse_output(done.stdout, expected=len(packets))
    return Replies(replies, argv, done.stdout, done.stderr, done.returncode)
