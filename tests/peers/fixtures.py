"""pytest fixtures for the real peers; registered for every test by tests/conftest.py.

A missing peer skips the test, except under RADMFA_REQUIRE_INTEGRATION=1
(set by .ci/run), where it fails it: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from tests.peers.freeradius import SYSTEM_RADDB, FreeRadius, FreeRadiusUser
from tests.peers.radclient import Replies, run_radclient

REQUIRE_INTEGRATION = "RADMFA_REQUIRE_INTEGRATION"

UPSTREAM_SECRET = "upstream-secret"  # noqa: S105  (test peers only)
ALICE = FreeRadiusUser(
    "alice", "alice-pw",
    reply={"Filter-Id": "vpn-users", "Class": "grp-alice", "Session-Timeout": "3600"},
)
BOB = FreeRadiusUser(
    "bob", "bob-pw",
    reply={"Filter-Id": "admins"},
    reply_lines=[("Reply-Message", "Welcome, bob"), ("Reply-Message", "Second line"),
                 ("Cisco-AVPair", "shell:priv-lvl=15"), ("Cisco-AVPair", "shell:roles=admin")],
)
STANDARD_USERS = (ALICE, BOB)


def integration_required() -> bool:
    return os.environ.get(REQUIRE_INTEGRATION) == "1"


def missing_peer(reason: str) -> NoReturn:
    """Skip the test for a missing peer, or fail it when integration is required."""
    if integration_required():
        pytest.fail(f"{REQUIRE_INTEGRATION}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """The path of program `name`; skips (or fails, see above) the test when it is missing."""
    path = shutil.which(name)
    if path is None:
        # Debian keeps daemons in sbin, which a non-root PATH may lack.
        path = next((p for d in ("/usr/sbin", "/sbin")
                     if os.access(p := os.path.join(d, name), os.X_OK)), None)
    if path is None:
        missing_peer(f"{name!r} is not installed (run `make setup`)")
    return path


def require_freeradius() -> str:
    path = require_binary("freeradius")
    if not os.access(SYSTEM_RADDB / "radiusd.conf", os.R_OK):
        missing_peer(f"cannot read {SYSTEM_RADDB}/radiusd.conf (run the tests as root)")
    return path


FreeRadiusFactory = Callable[..., FreeRadius]
_BUILDERS: dict[str, Callable[..., FreeRadius]] = {
    "users": FreeRadius, "ack": FreeRadius.ack, "proxy": FreeRadius.proxy,
}


def _factory() -> Iterator[FreeRadiusFactory]:
    binary = require_freeradius()
    started: list[FreeRadius] = []

    def start(*args: Any, mode: str = "users", **kwargs: Any) -> FreeRadius:
        """start(port=None, secret=..., users=...) / mode="ack" / mode="proxy", home=(h, p, s)."""
        kwargs.setdefault("binary", binary)
        server = _BUILDERS[mode](*args, **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def freeradius_factory() -> Iterator[FreeRadiusFactory]:
    """Starts FreeRADIUS instances for one test and stops them after it."""
    yield from _factory()


@pytest.fixture(scope="module")
def freeradius_module_factory() -> Iterator[FreeRadiusFactory]:
    """Like freeradius_factory, but the instances live for the whole test module."""
    yield from _factory()


@pytest.fixture(scope="module")
def freeradius_upstream(freeradius_module_factory: FreeRadiusFactory) -> FreeRadius:
    """FreeRADIUS on a free port with secret UPSTREAM_SECRET and users alice and bob."""
    return freeradius_module_factory(secret=UPSTREAM_SECRET, users=STANDARD_USERS)


Radclient = Callable[..., Replies]


@pytest.fixture
def radclient() -> Radclient:
    """run_radclient, once radclient is known to be installed."""
    binary = require_binary("radclient")

    def run(*args: Any, **kwargs: Any) -> Replies:
        kwargs.setdefault("binary", binary)
        return run_radclient(*args, **kwargs)

    return run


@pytest.fixture(scope="module")
def slapd() -> Iterator[Any]:
    """A private OpenLDAP slapd (ldap:// with StartTLS, and ldaps://) with alice, bob and star*user."""
    from tests.peers.slapd import Slapd

    binary = require_binary("slapd")
    require_binary("slapadd")
    server = Slapd(binary=binary)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()
