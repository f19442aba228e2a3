"""limits.window: fixed windows in whole epoch seconds, ending where the next begins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core import limits

NOON = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
START = int(NOON.timestamp())


def test_window_boundaries() -> None:
    assert limits.window(NOON, 600) == (START, START + 600)
    assert limits.window(NOON + timedelta(seconds=599, microseconds=999_999), 600) == (START, START + 600)
    assert limits.window(NOON + timedelta(seconds=600), 600) == (START + 600, START + 1200)
    assert limits.window(NOON - timedelta(microseconds=1), 600) == (START - 600, START)
    assert limits.window(NOON + timedelta(minutes=59), limits.GLOBAL_WINDOW_S) == (START, START + 3600)


def test_window_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        limits.window(datetime(2030, 1, 1, 12, 0), 600)
