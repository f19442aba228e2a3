"""The benchmark's per-request CPU of each process in a radclient run, and the
``perf stat`` reading of radclient's own polls."""

from __future__ import annotations

import pytest
from bench.driver_polls import SERVER_EVENTS, perf_counts, user_system_s
from bench.measure import RadclientRun
from bench.scenarios import cpu_per_request


def test_cpu_per_request_turns_shares_into_microseconds_per_accepted_request() -> None:
    shares = {"radmfa_cpu_share": 0.4, "upstream_cpu_share": 0.2, "driver_cpu_share": 0.35,
              "machine_cpu_share": 0.97, "other_cpu_share": 0.02}
    run = RadclientRun(accepted=20_000, rejected=0, lost=0, wall_s=4.0)
    # 2 cores x 4 s = 8 CPU-seconds in the run; 0.4 of them over 20,000 requests = 160 µs
    assert cpu_per_request(shares, 2, run) == {"radmfa": 160.0, "upstream": 80.0, "driver": 140.0}


def test_cpu_per_request_with_nothing_accepted_does_not_divide_by_zero() -> None:
    run = RadclientRun(accepted=0, rejected=0, lost=10, wall_s=2.0)
    assert cpu_per_request({"proxy_cpu_share": 0.5}, 2, run) == {"proxy": 2_000_000.0}


def test_perf_counts_reads_csv_lines_and_skips_what_was_not_counted() -> None:
    stderr = ("6230.24,msec,task-clock,6230239421,100.00,0.859,CPUs utilized\n"
              "1858340,,raw_syscalls:sys_enter,6230239421,100.00,298.277,K/sec\n"
              "<not counted>,,syscalls:sys_enter_pselect6,0,0.00,,\n"
              "some other line\n")
    assert perf_counts(stderr) == pytest.approx({"task-clock": 6230.24, "raw_syscalls:sys_enter": 1858340.0})


def test_perf_counts_reads_only_the_events_asked_for() -> None:
    stderr = ("5110.5,msec,task-clock,5110500000,100.00,0.7,CPUs utilized\n"
              "221000,,raw_syscalls:sys_enter,5110500000,100.00,43.2,K/sec\n"
              "11000,,context-switches,5110500000,100.00,2.1,K/sec\n"
              "9000,,syscalls:sys_enter_pselect6,5110500000,100.00,1.7,K/sec\n")
    counts = perf_counts(stderr, SERVER_EVENTS)
    assert counts == pytest.approx({"task-clock": 5110.5, "raw_syscalls:sys_enter": 221000.0,
                                    "context-switches": 11000.0})


def test_user_system_s_adds_the_processes_and_leaves_out_one_that_is_gone() -> None:
    import os

    mine = user_system_s([os.getpid()])
    both = user_system_s([os.getpid(), 2**22 + 1])  # above pid_max's default: no such process
    assert mine[0] > 0  # this test process has run Python code in user mode
    assert both[0] >= mine[0] and both[1] >= mine[1]
