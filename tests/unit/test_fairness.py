"""FairShare: per-client budgets and round robin over per-client queues."""

from __future__ import annotations

import random

import pytest

from radmfa.service.fairness import Admission, FairShare


def test_a_client_over_its_budget_is_refused_and_the_others_are_not():
    share: FairShare[str] = FairShare(slots=2, client_limit=3)
    assert [share.offer("flood", f"f{i}") for i in range(5)] == [
        Admission.RUN, Admission.RUN, Admission.QUEUED, Admission.REFUSED, Admission.REFUSED,
    ]
    assert share.offer("quiet", "q0") is Admission.QUEUED  # slots busy, but within its own budget
    assert share.admitted == {"flood": 3, "quiet": 1}


def test_freed_slots_go_to_the_clients_in_turn_not_in_arrival_order():
    share: FairShare[str] = FairShare(slots=1, client_limit=100)
    assert share.offer("flood", "f0") is Admission.RUN
    for i in range(1, 6):
        assert share.offer("flood", f"f{i}") is Admission.QUEUED
    share.offer("quiet", "q0")
    share.offer("quiet", "q1")
    share.offer("other", "o0")
    served = []
    while (job := share.free_slot()) is not None:
        served.append(job)
    # The quiet clients wait for one turn each, not for the flood's backlog.
    assert served == ["f1", "q0", "o0", "f2", "q1", "f3", "f4", "f5"]
    assert share.active == 0


def test_a_waiting_request_never_jumps_the_queue_while_others_wait():
    share: FairShare[str] = FairShare(slots=1, client_limit=10)
    share.offer("a", "a0")
    share.offer("a", "a1")
    assert share.free_slot() == "a1"  # the slot passes straight to the waiting request
    assert share.active == 1
    assert share.offer("b", "b0") is Admission.QUEUED
    assert share.free_slot() == "b0"
    assert share.free_slot() is None
    assert share.active == 0
    assert share.offer("b", "b1") is Admission.RUN


def test_leaving_gives_the_budget_back():
    share: FairShare[str] = FairShare(slots=4, client_limit=2)
    share.offer("nas", "r0")
    share.offer("nas", "r1")
    assert share.offer("nas", "r2") is Admission.REFUSED
    share.leave("nas")
    assert share.offer("nas", "r3") is Admission.RUN
    share.leave("nas")
    share.leave("nas")
    assert share.admitted == {}
    share.leave("nas")  # a second leave for the same request cannot go negative
    assert share.admitted == {}


def test_waiting_counts_queued_requests():
    share: FairShare[int] = FairShare(slots=1, client_limit=10)
    for i in range(4):
        share.offer("nas", i)
    assert share.waiting() == 3


@pytest.mark.parametrize(("slots", "limit"), [(0, 1), (1, 0)])
def test_limits_must_be_positive(slots, limit):
    with pytest.raises(ValueError, match="at least 1"):
        FairShare(slots=slots, client_limit=limit)


def test_release_is_leave_then_free_slot():
    rng = random.Random(11)
    for _ in range(200):
        one: FairShare[int] = FairShare(slots=rng.randint(1, 3), client_limit=rng.randint(1, 4))
        two: FairShare[int] = FairShare(slots=one.slots, client_limit=one.client_limit)
        running: list[str] = []
        for job in range(40):  # job n is client "abc"[n % 3]'s
            if running and rng.random() < 0.4:
                done = running.pop(rng.randrange(len(running)))
                one.leave(done)
                started = one.free_slot()
                assert two.release(done) == started
                if started is not None:
                    running.append("abc"[started % 3])
            else:
                admission = one.offer("abc"[job % 3], job)
                assert two.offer("abc"[job % 3], job) is admission
                if admission is Admission.RUN:
                    running.append("abc"[job % 3])
            assert (one.active, one.admitted, one.waiting()) == (two.active, two.admitted, two.waiting())
