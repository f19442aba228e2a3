"""A private FreeRADIUS 3.2 instance, run as a real process for tests and benchmarks.

Each start copies the system configuration (/etc/freeradius/3.0) into a fresh
temporary directory and rewrites what would make it collide with the system
service, with other instances, or slow tests down:

* no `user`/`group` in radiusd.conf: the server would drop to `freerad` and then
  fail to read its root-only temp directory;
* `logdir`, `run_dir` and `raddbdir` point into the temp directory, so several
  instances never share a pid file and nothing under /var is written;
* `reject_delay = 0`: the default one-second delay on every Access-Reject would
  make timeouts in tests lie;
* `max_requests = 1048576`: requests are kept for `cleanup_delay` after their
  answer, and the default 16,384 makes a proxy drop load a benchmark offers;
* sites-enabled holds one minimal virtual server; mods-enabled loses `eap`
  (it refuses to start without an `Auth-Type EAP` section) and the modules that
  write to system paths or call Samba.

Three modes: `FreeRadius(...)` checks users' cleartext passwords (PAP, CHAP,
MS-CHAP) from a users file; `FreeRadius.ack(...)` accepts everyone;
`FreeRadius.proxy(...)` forwards every Access-Request to one home server.
Start-up takes about 60 ms here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.peers.ports import free_udp_port

SYSTEM_RADDB = Path("/etc/freeradius/3.0")
DEFAULT_SECRET = "upstream-secret"  # noqa: S105  (test peers only)
START_TIMEOUT = 60.0  # generous: a busy machine (CI shares two cores)
STOP_TIMEOUT = 5.0  # then SIGKILL

# Enabled by the Debian package but unusable in a private instance: eap needs an
# `Auth-Type EAP` section; the others write under /var or call Samba's ntlm_auth.
UNWANTED_MODULES = (
    "eap", "detail", "detail.log", "linelog", "radutmp", "sradutmp", "unix", "ntlm_auth",
)


class FreeRadiusError(RuntimeError):
    """FreeRADIUS could not be configured, started or stopped."""


@dataclass(frozen=True)
class FreeRadiusUser:
    """One entry of the users file (`mods-config/files/authorize`).

    `reply` items are set with `:=` (one value each); `reply_lines` are added
    with `+=`, in order, for multi-valued attributes such as two Reply-Message
    or several Cisco-AVPair. `check` holds extra control items (`:=`), e.g.
    {"Auth-Type": "Reject"}. A `password` of None sets no Cleartext-Password.
    """

    name: str
    password: str | None = None
    reply: Mapping[str, str] = field(default_factory=dict)
    reply_lines: Sequence[tuple[str, str]] = ()
    check: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HomeServer:
    """Where a proxy-mode instance sends requests; `options` override proxy.conf items."""

    host: str
    port: int
    secret: str
    options: Mapping[str, str] = field(default_factory=dict)


def quote(value: str) -> str:
    """A double-quoted FreeRADIUS string; FreeRADIUS parses it per the attribute's type."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _user_name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_.@+-]+", name) else quote(name)


def render_user(user: FreeRadiusUser) -> str:
    """The users-file entry for `user`: check items on the first line, reply items indented."""
    check = [] if user.password is None else [("Cleartext-Password", user.password)]
    check += list(user.check.items())
    first = " ".join([_user_name(user.name), ", ".join(f"{k} := {quote(v)}" for k, v in check)])
    replies = [f"{k} := {quote(v)}" for k, v in user.reply.items()]
    replies += [f"{k} += {quote(v)}" for k, v in user.reply_lines]
    return "\n".join([first.rstrip(), *(f"\t{item}," for item in replies)]).rstrip(",") + "\n"


def render_users(users: Sequence[FreeRadiusUser], accept_all: bool) -> str:
    entries = [render_user(user) for user in users]
    if accept_all:
        # Listed users keep their passwords (no Fall-Through); everyone else is accepted.
        entries.append("DEFAULT Auth-Type := Accept\n")
    return "\n".join(entries)


def _listen_address(host: str) -> str:
    return f"ipv6addr = {host}" if ":" in host else f"ipaddr = {host}"


def render_site(host: str, port: int, proxy_realm: str | None) -> str:
    """The one virtual server; FreeRADIUS wants one statement per line, braces alone."""
    if proxy_realm is None:
        authorize = ["chap", "mschap", "files", "pap"]
        authenticate = [
            "Auth-Type PAP {", " pap", "}",
            "Auth-Type CHAP {", " chap", "}",
            "Auth-Type MS-CHAP {", " mschap", "}",
        ]
    else:
        authorize = ["update control {", f" &Proxy-To-Realm := '{proxy_realm}'", "}"]
        authenticate = []
    lines = [
        "server radmfa_test {",
        "listen {", " type = auth", f" {_listen_address(host)}", f" port = {port}", "}",
        "authorize {", *(f" {line}" for line in authorize), "}",
        "authenticate {", *(f" {line}" for line in authenticate), "}",
        "post-auth {",
        # Like the stock site: an Access-Reject carries no Filter-Id, Class, ...
        " Post-Auth-Type REJECT {", "  attr_filter.access_reject", " }",
        "}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_clients(secret: str) -> str:
    blocks = []
    for name, address in (("loopback4", "ipaddr = 127.0.0.1"), ("loopback6", "ipv6addr = ::1")):
        blocks.append(
            f"client {name} {{\n {address}\n secret = {quote(secret)}\n"
            " require_message_authenticator = no\n nas_type = other\n}\n"
        )
    return "".join(blocks)


def render_proxy_conf(home: HomeServer | None) -> str:
    lines = ["proxy server {", " default_fallback = no", "}"]
    if home is not None:
        options = {
            "type": "auth",
            "ipv6addr" if ":" in home.host else "ipaddr": home.host,
            "port": str(home.port),
            "secret": quote(home.secret),
            "status_check": "none",
            "response_window": "20",
            "revive_interval": "10",
            "max_outstanding": "65536",
            **home.options,
        }
        lines += ["home_server radmfa_home {", *(f" {k} = {v}" for k, v in options.items()), "}"]
        lines += ["home_server_pool radmfa_home_pool {", " type = fail-over",
                  " home_server = radmfa_home", "}"]
        lines += ["realm radmfa_home {", " auth_pool = radmfa_home_pool", " nostrip", "}"]
    return "\n".join(lines) + "\n"


def _edit_once(text: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, lambda _: replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise FreeRadiusError(
            f"radiusd.conf in {SYSTEM_RADDB}: expected one line matching {pattern!r}, "
            f"found {count}; the test harness needs updating for this FreeRADIUS version"
        )
    return new


def render_radiusd_conf(original: str, raddb: Path, logdir: Path, run_dir: Path,
                        log_auth: bool) -> str:
    text = original
    for pattern, replacement in (
        (r"^[ \t]*user[ \t]*=.*\n", ""),
        (r"^[ \t]*group[ \t]*=.*\n", ""),
        (r"^raddbdir[ \t]*=.*$", f"raddbdir = {raddb}"),
        (r"^logdir[ \t]*=.*$", f"logdir = {logdir}"),
        (r"^run_dir[ \t]*=.*$", f"run_dir = {run_dir}"),
        (r"^[ \t]*reject_delay[ \t]*=.*$", "\treject_delay = 0"),
        # Each request stays in the table for cleanup_delay (5 s) after its answer, so
        # the default 16,384 caps a proxy at ~3,300 requests/s and then drops the
        # rest; benchmarks drive it far harder than that.
        (r"^max_requests[ \t]*=.*$", "max_requests = 1048576"),
        (r"^[ \t]*status_server[ \t]*=.*$", "\tstatus_server = yes"),
        (r"^[ \t]*auth[ \t]*=[ \t]*(yes|no)[ \t]*$", f"\tauth = {'yes' if log_auth else 'no'}"),
    ):
        text = _edit_once(text, pattern, replacement)
    return text


def answers_status_server(host: str, port: int, secret: str, timeout: float) -> bool:
    """Send one Status-Server (RFC 5997) and say whether anything came back."""
    ident = secrets.randbelow(256)
    # RFC 5997 §3: Status-Server must carry a Message-Authenticator (RFC 3579 §3.2).
    header = bytes([12, ident]) + (38).to_bytes(2, "big") + os.urandom(16)
    unsigned = header + bytes([80, 18]) + bytes(16)
    packet = unsigned[:-16] + hmac.new(secret.encode(), unsigned, hashlib.md5).digest()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
            sock.send(packet)
            reply = sock.recv(4096)
        except (TimeoutError, ConnectionRefusedError):
            return False
    return len(reply) >= 20 and reply[1] == ident


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)  # a paused server ignores SIGTERM until resumed
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class FreeRadius:
    """One private FreeRADIUS process listening for Access-Requests on `host:port`.

    `port=None` picks a free port (and picks again if another process takes it
    first). Use as a context manager, or call `start()` and `stop()`; `stop()`
    then `start()` again gives a fresh process on the same port.
    """

    def __init__(
        self,
        port: int | None = None,
        secret: str = DEFAULT_SECRET,
        users: Sequence[FreeRadiusUser] = (),
        *,
        host: str = "127.0.0.1",
        accept_all: bool = False,
        home: HomeServer | tuple[str, int, str] | None = None,
        log_auth: bool = True,
        binary: str = "freeradius",
        source: Path = SYSTEM_RADDB,
        keep_dir: bool | None = None,
    ) -> None:
        self.host = host
        self._auto_port = port is None
        self.port = free_udp_port(host) if port is None else port
        self.secret = secret
        self.users = tuple(users)
        self.accept_all = accept_all
        self.home = HomeServer(*home) if isinstance(home, tuple) else home
        self.log_auth = log_auth
        self.binary = binary
        self.source = source
        if keep_dir is None:
            keep_dir = os.environ.get("RADMFA_KEEP_PEER_DIRS") == "1"
        self.keep_dir = keep_dir
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], FreeRadius] | None = None

    @classmethod
    def proxy(cls, port: int | None, secret: str, home: HomeServer | tuple[str, int, str],
              **kwargs: object) -> FreeRadius:
        """A plain proxy: every Access-Request goes to `home` = (host, port, secret)."""
        kwargs.setdefault("log_auth", False)
        return cls(port, secret, home=home, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def ack(cls, port: int | None = None, secret: str = DEFAULT_SECRET,
            **kwargs: object) -> FreeRadius:
        """Accepts every user with any password (listed `users` still need theirs)."""
        kwargs.setdefault("log_auth", False)
        return cls(port, secret, accept_all=True, **kwargs)  # type: ignore[arg-type]

    # -- what tests read -------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def server(self) -> str:
        """`host:port` as radclient wants it ("[::1]:1812" for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        return None if self.directory is None else self.directory / "log" / "radius.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of FreeRADIUS's log and of its stderr."""
        if self.directory is None:
            return ""
        parts = []
        for path in (self.directory / "log" / "radius.log", self.directory / "log" / "stderr.log"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                if tail:
                    parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def __repr__(self) -> str:
        mode = "proxy" if self.home else "ack" if self.accept_all else "users"
        return f"<FreeRadius {mode} {self.server} pid={self.pid}>"

    # -- life cycle ------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> FreeRadius:
        """Start the process and return once it answers Status-Server."""
        if self._process is not None:
            raise FreeRadiusError(f"{self!r} is already started")
        for attempt in range(3 if self._auto_port else 1):
            self._launch()
            try:
                self._wait_ready(timeout)
                return self
            except FreeRadiusError as error:
                port_taken = "Address already in use" in self.log_tail()
                self.stop()
                if not (port_taken and self._auto_port and attempt < 2):
                    raise error
                self.port = free_udp_port(self.host)
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; removes the temp directory unless kept."""
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self.directory is not None and not self.keep_dir:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def pause(self) -> None:
        """SIGSTOP: the port stays bound but nothing answers (an unresponsive upstream)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def __enter__(self) -> FreeRadius:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------

    def _signal(self, signum: int) -> None:
        if self._process is None:
            raise FreeRadiusError(f"{self!r} is not running")
        self._process.send_signal(signum)

    def _write_config(self) -> Path:
        base = Path(tempfile.mkdtemp(prefix=f"radmfa-freeradius-{self.port}-"))
        self.directory = base
        raddb, logdir, run_dir = base / "raddb", base / "log", base / "run"
        shutil.copytree(self.source, raddb, symlinks=True, ignore=shutil.ignore_patterns("certs"))
        logdir.mkdir()
        run_dir.mkdir()
        conf = raddb / "radiusd.conf"
        conf.write_text(
            render_radiusd_conf(conf.read_text(), raddb, logdir, run_dir, self.log_auth))
        for module in UNWANTED_MODULES:
            (raddb / "mods-enabled" / module).unlink(missing_ok=True)
        for site in (raddb / "sites-enabled").iterdir():
            site.unlink()
        realm = "radmfa_home" if self.home else None
        (raddb / "sites-enabled" / "radmfa_test").write_text(
            render_site(self.host, self.port, realm))
        (raddb / "clients.conf").write_text(render_clients(self.secret))
        (raddb / "proxy.conf").write_text(render_proxy_conf(self.home))
        users = raddb / "mods-config" / "files" / "authorize"
        users.write_text(render_users(self.users, self.accept_all))
        return raddb

    def _launch(self) -> None:
        raddb = self._write_config()
        assert self.directory is not None
        self._stderr = open(self.directory / "log" / "stderr.log", "wb")  # noqa: SIM115
        # -f: foreground, no fork; not -X, whose debug output makes it much slower.
        log = self.directory / "log" / "radius.log"
        argv = [self.binary, "-f", "-d", str(raddb), "-l", str(log)]
        try:
            self._process = subprocess.Popen(  # noqa: S603
                argv, stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                start_new_session=True)
        except OSError as error:
            self.stop()
            raise FreeRadiusError(f"cannot run {self.binary!r}: {error}") from error
        # A test that forgets stop() must not leave a server behind.
        self._finalizer = weakref.finalize(self, _terminate, self._process)

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self._process.poll()
            if status is not None:
                raise FreeRadiusError(
                    f"FreeRADIUS for {self.server} exited with status {status} while starting;"
                    f" its log ends:\n{self.log_tail()}")
            if answers_status_server(self.host, self.port, self.secret, timeout=0.05):
                return
            time.sleep(0.01)
        raise FreeRadiusError(
            f"FreeRADIUS for {self.server} did not answer Status-Server within {timeout:g} s;"
            f" its log ends:\n{self.log_tail()}")
