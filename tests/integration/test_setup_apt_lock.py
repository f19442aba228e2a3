"""scripts/setup.sh waits while another apt or dpkg holds the package manager.

The test holds apt's real locks the way apt and dpkg do (fcntl record locks on
/var/lib/dpkg/lock-frontend and /var/lib/apt/lists/lock) and runs setup.sh's
own functions (the script, sourced, only defines them). They must wait, not
fail; nothing is installed or fetched: the install is of a package already
at its candidate version, and the waiting update is stopped before the lock
is let go.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.harness import REPO

SETUP = REPO / "scripts" / "setup.sh"
WAIT_S = 120.0  # generous: a busy machine
FRONTEND_LOCK = Path("/var/lib/dpkg/lock-frontend")
LISTS_LOCK = Path("/var/lib/apt/lists/lock")


@pytest.fixture(autouse=True)
def apt_host() -> None:
    if shutil.which("apt-get") is None or shutil.which("apt-cache") is None:
        pytest.skip("not a Debian host (no apt-get)")
    if os.geteuid() != 0:
        pytest.skip("holding apt's locks needs root")


@contextmanager
def held(lock: Path) -> Iterator[None]:
    """Hold ``lock`` as apt and dpkg do: a POSIX record lock (flock(2) would not conflict)."""
    with open(lock, "a") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(f, fcntl.LOCK_UN)


def setup_function_call(call: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-c", f'source "{SETUP}"; {call}'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def read_until(proc: subprocess.Popen[str], needle: str) -> str:
    """Output up to the first line holding ``needle``; fails on exit or after WAIT_S."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + WAIT_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=1.0):
                continue
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                pytest.fail(f"setup.sh ended (exit {proc.returncode}) instead of waiting:\n{''.join(seen)}")
            seen.append(line)
            if needle in line:
                return "".join(seen)
    pytest.fail(f"no {needle!r} within {WAIT_S:g} s:\n{''.join(seen)}")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=WAIT_S)


def up_to_date_package() -> str:
    """A package installed at its candidate version: installing it changes nothing."""
    for name in ("coreutils", "bash", "dpkg", "apt", "grep", "sed"):
        policy = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True, check=False).stdout
        fields = dict(line.strip().split(": ", 1) for line in policy.splitlines()[1:3] if ": " in line)
        if fields.get("Installed") not in (None, "(none)") and fields.get("Installed") == fields.get("Candidate"):
            return name
    pytest.skip("no essential package is at its candidate version here")


def test_install_waits_for_the_dpkg_lock_then_goes_on() -> None:
    package = up_to_date_package()
    with held(FRONTEND_LOCK):
        proc = setup_function_call(f"APT_UPDATED=yes; apt_install {package}")
        try:
            read_until(proc, "Waiting for cache lock")
            assert proc.poll() is None
        except BaseException:
            stop(proc)
            raise
    output, _ = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, output
    assert f"{package} is already the newest version" in output


def test_update_waits_while_the_package_lists_are_locked() -> None:
    with held(LISTS_LOCK):
        proc = setup_function_call("apt_update")
        try:
            read_until(proc, "another apt or dpkg holds the package lists; waiting")
            assert proc.poll() is None
        finally:
            stop(proc)  # before the lock goes: no real update is fetched
