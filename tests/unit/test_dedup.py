from radmfa.radius.dedup import DedupCache, Seen

KEY = ("10.0.0.1", 4000, 7)
A1, A2 = b"a" * 16, b"b" * 16


def test_pending_then_answered_then_expired():
    c = DedupCache(10.0)
    assert c.seen(KEY, A1, now=0.0) == (Seen.NEW, None)
    assert c.seen(KEY, A1, now=1.0) == (Seen.PENDING, None)
    c.answered(KEY, A1, b"reply", now=2.0)
    assert c.seen(KEY, A1, now=5.0) == (Seen.ANSWERED, b"reply")
    assert c.seen(KEY, A1, now=12.5)[0] is Seen.NEW  # window over: a new request


def test_new_authenticator_is_a_new_request_and_old_reply_is_not_cached():
    c = DedupCache(10.0)
    c.seen(KEY, A1, now=0.0)
    assert c.seen(KEY, A2, now=1.0)[0] is Seen.NEW
    c.answered(KEY, A1, b"old", now=2.0)  # the superseded request finishes
    assert c.seen(KEY, A2, now=3.0)[0] is Seen.PENDING
    c.answered(KEY, A2, b"new", now=4.0)
    assert c.seen(KEY, A2, now=5.0) == (Seen.ANSWERED, b"new")


def test_forget_and_bounded_table():
    c = DedupCache(10.0, max_entries=2)
    c.seen(("a", 1, 1), A1, now=0)
    c.seen(("a", 1, 2), A1, now=0)
    assert c.seen(("a", 1, 3), A1, now=0)[0] is Seen.FULL  # full: shed
    c.forget(("a", 1, 1), A1)
    assert c.seen(("a", 1, 3), A1, now=0)[0] is Seen.NEW


def test_zero_window_caches_nothing():
    c = DedupCache(0)
    c.seen(KEY, A1, now=0)
    c.answered(KEY, A1, b"r", now=0)
    assert c.seen(KEY, A1, now=0)[0] is Seen.NEW


def test_replay_needs_identical_bytes_and_never_changes_the_cache():
    c = DedupCache(10.0)
    req = b"\x01\x07\x00\x14" + A1
    assert c.replay(KEY, req, now=0.0) is None
    c.seen(KEY, A1, now=0.0, request=req)
    assert c.replay(KEY, req, now=0.1) == (Seen.PENDING, None)
    forged = req[:-1] + b"x"
    assert c.replay(KEY, forged, now=0.1) is None  # not identical: must be verified first
    c.answered(KEY, A1, b"reply", now=0.2)
    assert c.replay(KEY, req, now=1.0) == (Seen.ANSWERED, b"reply")
    assert c.replay(KEY, req, now=10.3) is None  # window over
    assert len(c) == 1


def test_full_table_is_its_own_outcome():
    c = DedupCache(10.0, max_entries=1)
    c.seen(("a", 1, 1), A1, now=0)
    assert c.seen(("a", 1, 2), A1, now=0)[0] is Seen.FULL


def test_pending_queue_stays_proportional_to_the_table():
    c = DedupCache(1.0)
    for i in range(200_000):  # 10k requests/s for 20 s, each answered at once
        key = ("10.0.0.1", 1000 + i % 5000, i % 256)
        now = i / 10_000
        c.seen(key, i.to_bytes(16, "big"), now=now)
        c.answered(key, i.to_bytes(16, "big"), b"r", now=now)
    assert len(c) <= 5000 * 256
    assert len(c._pending_q) <= 2 * len(c) + 1024
    assert len(c) <= 10_000 + 1  # one window's worth of answered requests
    assert len(c._answered_q) <= 10_000 + 1024
