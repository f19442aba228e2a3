"""The dead-server tracker every upstream shares (FreeRADIUS fail-over
pool semantics, docs/operator-guide.md): time passed in, no waiting."""

from __future__ import annotations

import threading

from radmfa.upstream.failover import Failover

A, B, C = "a", "b", "c"


def test_live_servers_in_configured_order():
    f = Failover([A, B, C], dead_time_s=30)
    assert f.order(now=0.0) == (A, B, C)
    assert f.healthy(now=0.0) and f.dead(now=0.0) == []


def test_a_dead_server_is_not_used_while_a_live_one_is_left_except_as_the_last_resort():
    f = Failover([A, B, C], dead_time_s=30)
    assert f.failed(A, since=100.0, now=102.0)
    assert f.order(now=103.0) == (B, C, A)  # after every live one, as the last resort
    assert f.failed(B, since=103.0, now=105.0)
    # Only one dead server is tried, the one whose dead time ends first.
    assert f.order(now=106.0) == (C, A)
    assert f.dead(now=106.0) == [A, B]


def test_when_all_are_dead_one_is_probed_the_one_reviving_first():
    f = Failover([A, B], dead_time_s=30)
    f.failed(B, since=0.0, now=1.0)  # dead until 31
    f.failed(A, since=2.0, now=3.0)  # dead until 33
    assert f.order(now=4.0) == (B,)
    assert not f.healthy(now=4.0)


def test_equal_dead_times_probe_in_configured_order():
    f = Failover([A, B], dead_time_s=30)
    f.failed(B, since=0.0, now=1.0)
    f.failed(A, since=0.0, now=1.0)
    assert f.order(now=2.0) == (A,)


def test_a_dead_server_revives_when_its_dead_time_ends():
    f = Failover([A, B], dead_time_s=30)
    f.failed(A, since=0.0, now=2.0)  # dead until 32
    assert f.order(now=31.9) == (B, A)
    assert f.order(now=32.0) == (A, B)  # back in first place, like revive_interval
    assert f.dead(now=32.0) == []


def test_any_answer_marks_a_server_live_at_once():
    f = Failover([A, B], dead_time_s=30)
    f.failed(A, since=0.0, now=2.0)
    f.failed(B, since=0.0, now=2.0)
    f.answered(A, now=3.0)  # the probe answered
    assert f.order(now=3.0) == (A, B)
    assert f.healthy(now=3.0)


def test_a_server_that_answered_something_while_we_waited_is_not_dead():
    f = Failover([A, B], dead_time_s=30)
    f.answered(A, now=101.0)  # another request's answer, after this one was sent at 100
    assert not f.failed(A, since=100.0, now=102.0)
    assert f.order(now=102.0) == (A, B)
    # An answer from before the request was sent proves nothing.
    assert f.failed(A, since=101.5, now=103.5)
    assert f.order(now=104.0) == (B, A)


def test_dead_time_zero_never_takes_a_server_out():
    f = Failover([A, B], dead_time_s=0)
    f.failed(A, since=0.0, now=1.0)
    assert f.order(now=1.0) == (A, B)


def test_no_servers_is_not_healthy():
    f: Failover[str] = Failover([], dead_time_s=30)
    assert f.order(now=0.0) == () and not f.healthy(now=0.0)


def test_pool_threads_can_share_it():
    f = Failover([A, B, C], dead_time_s=30)
    errors: list[BaseException] = []

    def churn(server: str) -> None:
        try:
            for i in range(20_000):
                f.failed(server, since=float(i), now=float(i))
                assert len(f.order(now=float(i))) >= 1
                f.answered(server, now=float(i))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=churn, args=(s,)) for s in (A, B, C)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
