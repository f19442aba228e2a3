"""The operator guide's production install, followed to the letter, gives a
service that starts and answers.

The first ```sh block of docs/operator-guide.md's "Production" section is
read from the guide and run as written, with these substitutions only:
* every path it installs to (/etc/radmfa, /opt/radmfa, /var/lib/radmfa, ...)
  lies under a temporary root, so the test never touches this host's files
  (a step naming any other path fails the test until it is mapped here);
  `/path/to/radmfa` is a copy of this checkout there;
* `systemctl` only records its arguments (no systemd here); `sudo` is the
  root shell the test already is, with sudo's secure_path, and `sudo -u USER`
  is done by setpriv.
`useradd` is real: the unit runs as `radmfa`, so the service must run as that
user, and the guide's step creates it (the account stays: a system account
with no home and no login shell). The package is really pip-installed into
the temporary /opt/radmfa.

Then the installed unit is started the way systemd would: its ExecStartPre
and ExecStart (paths mapped into the root) as its User/Group, with only its
Environment, its UMask, in "/", with NOTIFY_SOCKET for Type=notify; the one
change is the listen port, as 1812 may be taken on a test machine. radclient
then gets a Status-Server and Access-Requests answered.
"""
from __future__ import annotations

import fcntl
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest

from radmfa.config import load
from tests.integration.harness import REPO
from tests.peers.fixtures import missing_peer
from tests.peers.ports import free_udp_port

pytestmark = pytest.mark.integration

GUIDE = REPO / "docs" / "operator-guide.md"
CHECKOUT = "/path/to/radmfa"
# What the guide installs to; each is moved under the temporary root.
INSTALLED = ("/etc/radmfa", "/etc/systemd/system", "/opt/radmfa", "/usr/bin/radmfa", "/var/lib/radmfa",
             "/usr/share/doc/radmfa")
HOST_FOLDERS = ("etc/systemd/system", "usr/bin", "usr/share/doc", "var/lib", "opt")
# Absolute paths the guide may name that are not installed to.
READ_ONLY = ("/usr/sbin/nologin", "/nonexistent", "/dev/null")
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # alice's TOTP seed (160 bits, base32)
STEPS_TIMEOUT_S = 1200.0  # includes a pip install on a busy machine
READY_TIMEOUT_S = 120.0
LOCK = Path(tempfile.gettempdir()) / "radmfa-install-guide.lock"  # one useradd at a time on this host

# sudo runs commands with its secure_path (Debian's default), here with the
# root's /usr/bin in front: `python3` is the system's, as it would be. The
# stub folder before it holds `systemctl`.
SHELL_PRELUDE = """
set -euo pipefail
sudo() {
    local path="$RADMFA_TEST_ROOT/stub:$RADMFA_TEST_ROOT/usr/bin"
    path="$path:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if [ "${1-}" = -u ]; then
        local user=$2; shift 2
        setpriv --reuid="$user" --regid="$user" --init-groups -- env PATH="$path" "$@"
    else
        env PATH="$path" "$@"
    fi
}
"""
SYSTEMCTL_STUB = """#!/bin/sh
printf '%s\\n' "$*" >>"$RADMFA_TEST_ROOT/systemctl.calls"
"""


def production_steps() -> str:
    text = GUIDE.read_text()
    section = text[text.index("\n### Production\n") :]
    section = section[: section.index("\n## ")]
    found = re.search(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert found, "the Production section has no ```sh block"
    return found.group(1)


def in_root(script: str, root: Path) -> str:
    """``script`` with every installed path and the checkout moved under ``root``."""
    targets = sorted((*INSTALLED, CHECKOUT), key=len, reverse=True)
    pattern = re.compile("(" + "|".join(map(re.escape, targets)) + r")(?![\w.-])")

    def move(match: re.Match[str]) -> str:
        return str(root / "src" / "radmfa") if match.group(1) == CHECKOUT else f"{root}{match.group(1)}"

    moved = pattern.sub(move, script)
    # Nothing may escape the root: a new step writing elsewhere must be added above.
    commands = re.sub(r"(?:^|\s)#.*$", "", moved, flags=re.MULTILINE)
    for path in re.findall(r"(?:^|[\s'\"=|])(/[^\s'\"|;]+)", commands, re.MULTILINE):
        assert path.startswith(str(root)) or path.startswith(READ_ONLY), f"the guide names {path}: map it"
    return moved


def copy_checkout(destination: Path) -> None:
    """What a clone holds (tracked and new files, not .venv or build output)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@dataclass
class Unit:
    """The [Service] settings systemd would act on."""

    settings: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Unit:
        unit, section = cls(), ""
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                unit.settings.setdefault(f"{section}{key}", []).append(value)
        return unit

    def one(self, key: str) -> str:
        [value] = self.settings[key]
        return value

    def all(self, key: str) -> list[str]:
        return self.settings.get(key, [])


@pytest.fixture
def root() -> Iterator[Path]:
    if os.geteuid() != 0:
        missing_peer("the production install needs root (it creates the radmfa system user)")
    for tool in ("setpriv", "useradd", "install", "radclient"):
        if shutil.which(tool) is None:
            missing_peer(f"{tool!r} is not installed")
    # Under /tmp, not pytest's 0700 tmp_path: the service's user must reach its files.
    path = Path(tempfile.mkdtemp(prefix="radmfa-root-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_steps(root: Path) -> None:
    copy_checkout(root / "src" / "radmfa")
    script = SHELL_PRELUDE + in_root(production_steps(), root)
    env = dict(os.environ, RADMFA_TEST_ROOT=str(root))
    env.pop("VIRTUAL_ENV", None)
    stub = root / "stub" / "systemctl"
    stub.parent.mkdir()
    stub.write_text(SYSTEMCTL_STUB)
    stub.chmod(0o755)
    for folder in HOST_FOLDERS:  # a Debian host has these; the guide's own folders it must make itself
        (root / folder).mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True,
                              timeout=STEPS_TIMEOUT_S, umask=0o022, check=False)
    assert done.returncode == 0, f"the guide's steps failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"


def as_unit_user(unit: Unit, root: Path) -> dict[str, object]:
    """subprocess arguments that start a command as systemd starts this unit's."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for assignment in unit.all("[Service]Environment"):
        for pair in shlex.split(assignment):
            name, value = pair.split("=", 1)
            env[name] = in_root(value, root)
    umask = unit.all("[Service]UMask")
    return {
        "user": unit.one("[Service]User"),
        "group": unit.one("[Service]Group"),
        "extra_groups": [],
        "env": env,
        "cwd": "/",  # a system unit without WorkingDirectory=
        "umask": int(umask[0], 8) if umask else 0o022,
    }


def command(line: str, root: Path) -> list[str]:
    return shlex.split(in_root(line, root))


def wait_ready(notify: socket.socket, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"radmfa exited {proc.returncode} before READY=1:\n{log.read_text(errors='replace')}")
        try:
            message = notify.recv(4096).decode()
        except TimeoutError:
            continue
        if "READY=1" in message.splitlines():
            return
    pytest.fail(f"no READY=1 within {READY_TIMEOUT_S:g} s:\n{log.read_text(errors='replace')}")


def test_the_production_steps_give_a_service_that_starts_and_answers(root: Path, radclient) -> None:
    run_steps(root)

    calls = (root / "systemctl.calls").read_text().splitlines()
    assert calls == ["daemon-reload", "enable --now radmfa"]
    unit = Unit.read(root / "etc/systemd/system/radmfa.service")
    for uri in " ".join(unit.all("[Unit]Documentation")).split():
        if uri.startswith("file://"):
            assert Path(in_root(uri.removeprefix("file://"), root)).is_file(), f"Documentation={uri} is not installed"
        else:
            assert uri.startswith(("https://", "man:")), uri
    assert unit.all("[Unit]Documentation"), "the unit names no documentation"

    config_path = root / "etc/radmfa/radmfa.toml"
    cfg = load(config_path)
    state = root / "var/lib/radmfa"
    assert (cfg.base_dir / cfg.store.key_file).parent == state
    assert cfg.store.url == f"sqlite:///{state}/radmfa.db"
    # The one change the guide cannot make for a test: 1812 may be taken on this host.
    port = free_udp_port()
    text = config_path.read_text()
    assert text.count('listen = ["127.0.0.1:1812"]') == 1
    config_path.write_text(text.replace('listen = ["127.0.0.1:1812"]', f'listen = ["127.0.0.1:{port}"]'))
    secret = re.search(r'secret = "([^"]+)"', (root / "etc/radmfa/clients.conf").read_text())
    assert secret

    how = as_unit_user(unit, root)
    user = pwd.getpwnam(str(how["user"]))
    for line in unit.all("[Service]ExecStartPre"):
        pre = subprocess.run(command(line, root), capture_output=True, text=True, timeout=120, check=False, **how)
        assert pre.returncode == 0, f"ExecStartPre={line}: {pre.stdout}{pre.stderr}"

    notify_path = root / "notify.sock"
    log = root / "radmfa.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify, open(log, "wb") as out:
        notify.bind(str(notify_path))
        notify_path.chmod(0o777)
        notify.settimeout(0.5)
        how["env"] = dict(how["env"], NOTIFY_SOCKET=str(notify_path))  # type: ignore[call-overload]
        proc = subprocess.Popen(command(unit.one("[Service]ExecStart"), root), stdout=out, stderr=subprocess.STDOUT,
                                **how)  # type: ignore[call-overload]
        try:
            wait_ready(notify, proc, log)
            address = ("127.0.0.1", port)
            [status] = radclient(address, secret.group(1), [{}], code="status", timeout=5, retries=3)
            assert status.code == "Access-Accept", log.read_text(errors="replace")

            # Admin commands as the guide says to run them: as the service's user, with its config.
            for args, stdin in ((["user", "add", "alice", "--password"], "alice-password-1\n"),
                                (["token", "add", "alice", "--type", "totp", "--secret", "-"], f"{SEED}\n")):
                admin = subprocess.run(
                    [str(root / "usr/bin/radmfa"), "--config", str(config_path), *args],
                    input=stdin, capture_output=True, text=True, timeout=120, check=False,
                    user=user.pw_uid, group=user.pw_gid, extra_groups=[], env=how["env"],
                )
                assert admin.returncode == 0, admin.stdout + admin.stderr
            code = pyotp.TOTP(SEED).now()
            right, wrong = radclient(
                address, secret.group(1),
                [{"User-Name": "alice", "User-Password": f"alice-password-1,{code}"},
                 {"User-Name": "alice", "User-Password": f"not-her-password,{code}"}],
                timeout=5, retries=3, parallel=2,
            )
            assert (right.code, wrong.code) == ("Access-Accept", "Access-Reject"), log.read_text(errors="replace")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log.read_text(errors="replace")

    # ProtectSystem=strict leaves only the StateDirectory writable: the service wrote nothing else.
    written = [p for p in root.rglob("*") if p.lstat().st_uid == user.pw_uid]
    assert written and all(p == state or state in p.parents for p in written), written
    for name in ("radmfa.db", "radmfa.key"):
        assert (state / name).stat().st_mode & 0o077 == 0, name
