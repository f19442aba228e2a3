"""The rate-limited warning helper shared by the listener, the callback
server and the RADIUS upstream: time passed in, no waiting."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from radmfa.service.warnings import MAX_SOURCES, Throttle


def test_one_line_per_source_and_reason_per_interval():
    t = Throttle(interval_s=60.0, per_interval=20)
    assert t.admit("unknown_client", "192.0.2.1", now=1000.0) == 0
    assert t.admit("unknown_client", "192.0.2.1", now=1059.9) is None  # the same source again
    assert t.admit("bad_authenticator", "192.0.2.1", now=1001.0) == 0  # another reason is another line
    assert t.admit("unknown_client", "192.0.2.2", now=1001.0) == 0  # another source too
    assert t.admit("unknown_client", "192.0.2.1", now=1060.0) == 0  # an interval later
    assert t.suppressed("unknown_client") == 0  # a source's repeats are not "suppressed" lines


def test_a_spoofed_source_flood_is_held_to_the_budget_and_counted():
    t = Throttle(interval_s=60.0, per_interval=20)
    admitted = [t.admit("unknown_client", f"198.51.100.{i}", now=1000.0 + i / 100) for i in range(250)]
    assert sum(a is not None for a in admitted) == 20
    assert t.suppressed("unknown_client") == 230
    # The next window's first line carries the count, once.
    assert t.admit("unknown_client", "203.0.113.1", now=1061.0) == 230
    assert t.admit("unknown_client", "203.0.113.2", now=1061.0) == 0
    assert t.suppressed("unknown_client") == 0


def test_without_a_source_only_the_budget_applies():
    t = Throttle(interval_s=60.0, per_interval=2)
    assert [t.admit("bad push token", now=5.0 + i) for i in range(5)] == [0, 0, None, None, None]
    # Held-back lines are reported when the next window opens, not forgotten with it.
    assert t.admit("bad push token", now=70.0) == 3


def test_once_a_minute_per_reason():
    t = Throttle(interval_s=60.0, per_interval=1)
    assert t.admit("wrong source", now=0.0) == 0
    assert t.admit("wrong source", now=30.0) is None
    assert t.admit("malformed", now=30.0) == 0
    assert t.admit("wrong source", now=60.0) == 1


def test_the_memory_of_sources_is_bounded():
    t = Throttle(interval_s=60.0, per_interval=MAX_SOURCES * 2)
    for i in range(MAX_SOURCES + 5):
        t.admit("unknown_client", f"src{i}", now=1.0)
    assert len(t._by_source) <= MAX_SOURCES


def test_warning_logs_the_fields_and_the_suppressed_count():
    t = Throttle(interval_s=60.0, per_interval=1)
    log = structlog.get_logger("test")
    with capture_logs() as logs:
        assert t.warning(log, "callback refused", reason="bad push token", now=0.0, path="/cb/push/1/approve")
        assert not t.warning(log, "callback refused", reason="bad push token", now=1.0, path="/cb/push/2/approve")
        assert t.warning(log, "callback refused", reason="bad push token", now=61.0, path="/cb/push/3/approve")
    assert [(e["event"], e["path"], e["suppressed"], e["log_level"]) for e in logs] == [
        ("callback refused", "/cb/push/1/approve", 0, "warning"),
        ("callback refused", "/cb/push/3/approve", 1, "warning"),
    ]
