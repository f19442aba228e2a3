"""Shared test set-up: the real-peer fixtures, and no silent skips in CI.

Tests that need a real peer (FreeRADIUS, radclient, PostgreSQL, slapd) are
marked `integration` and find it through tests.peers.fixtures. Under
RADMFA_REQUIRE_INTEGRATION=1 (.ci/run sets it) a skipped integration test is
reported as a failure, whatever skipped it.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.peers.alerts import mail_sink, webhook_receiver  # noqa: F401
from tests.peers.fixtures import (  # noqa: F401  (fixtures are found by name)
    REQUIRE_INTEGRATION,
    freeradius_factory,
    freeradius_module_factory,
    freeradius_upstream,
    integration_required,
    radclient,
    slapd,
)
from tests.peers.postgres import (  # noqa: F401
    fresh_postgres_url,
    postgres_url,
    private_postgres,
    private_postgres_server,
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("integration") is not None
        and integration_required()
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_INTEGRATION}=1 but this integration test was skipped: {reason}"
    return report
