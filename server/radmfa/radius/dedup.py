"""Duplicate detection and the reply cache (RFC 5080 §2.2.2, checklist DUP-1..4).

Pure: the caller passes ``now`` (monotonic seconds). Keyed on the source
(IP, port) and Identifier; the Request Authenticator tells a retransmission
from a new request that reuses the Identifier.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any

Key = tuple[str, int, int]  # source IP, source port, Identifier


class Seen(enum.Enum):
    NEW = "new"
    PENDING = "pending"  # still being processed: silently discard
    ANSWERED = "answered"  # resend the cached reply bytes
    FULL = "full"  # no room for another request: shed it (DUP-6)


NEW: tuple[Seen, None] = (Seen.NEW, None)
PENDING: tuple[Seen, None] = (Seen.PENDING, None)
FULL: tuple[Seen, None] = (Seen.FULL, None)


# An entry is a list [authenticator, request bytes, reply bytes or None,
# expires], read through these indexes: one is made for every request, and
# a list costs about a quarter of the instructions of a slotted class whose
# __init__ is Python (the call from C into a new frame).
_AUTHENTICATOR, _REQUEST, _REPLY, _EXPIRES = range(4)
_Entry = list[Any]  # [bytes, bytes, bytes | None, float]


class DedupCache:
    """Per-process table of requests in flight and recently answered."""

    def __init__(self, window_s: float, *, max_entries: int = 65536, max_pending_s: float = 300.0):
        self.window_s = window_s
        self.max_entries = max_entries
        self.max_pending_s = max_pending_s
        self._entries: dict[Key, _Entry] = {}
        # Two queues, each in expiry order because each uses a constant offset.
        self._pending_q: deque[tuple[float, Key]] = deque()
        self._answered_q: deque[tuple[float, Key]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def replay(self, key: Key, data: bytes, now: float) -> tuple[Seen, bytes | None] | None:
        """A byte-identical copy of a request already verified and recorded.

        Checked before parsing and Message-Authenticator verification, so a
        retransmission storm costs a dict lookup and a memcmp per copy. Only
        identical bytes match, and nothing here changes the cache, so a
        forged packet can neither use nor disturb it (RFC 5080 §2.2.2).
        ``now`` may be passed by position (cheaper than by keyword: every copy).
        """
        entry = self._entries.get(key)
        if entry is None or entry[_REQUEST] != data or entry[_EXPIRES] <= now:
            return None
        reply = entry[_REPLY]
        return PENDING if reply is None else (Seen.ANSWERED, reply)

    def seen(self, key: Key, authenticator: bytes, now: float, request: bytes = b"") -> tuple[Seen, bytes | None]:
        """Classify a verified packet; a NEW one is recorded as pending (the
        ``NEW`` tuple itself is returned: callers may test identity).
        ``now`` and ``request`` may be passed by position (every request)."""
        pending_q = self._pending_q
        if (pending_q and pending_q[0][0] <= now) or (self._answered_q and self._answered_q[0][0] <= now):
            self._expire(now)
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            if entry[_AUTHENTICATOR] == authenticator and entry[_EXPIRES] > now:
                reply = entry[_REPLY]
                return PENDING if reply is None else (Seen.ANSWERED, reply)
            # The same Identifier with a new authenticator: the old entry is
            # purged (RFC 5080 §2.2.2 "Cache entries MUST also be purged").
        elif len(entries) >= self.max_entries:
            return FULL
        expires = now + self.max_pending_s
        entries[key] = [authenticator, request, None, expires]
        pending_q.append((expires, key))
        if len(pending_q) > 2 * len(entries) + 1024:
            self._compact()
        return NEW

    def _compact(self) -> None:
        """Answered and superseded requests leave stale items in the pending
        queue until their (long) pending deadline; rebuild it from the live
        entries so its size stays proportional to the table."""
        live = sorted((e[_EXPIRES], k) for k, e in self._entries.items() if e[_REPLY] is None)
        self._pending_q = deque(live)

    def answered(self, key: Key, authenticator: bytes, reply: bytes, now: float) -> None:
        """Remember the reply bytes for the duplicate window (``now`` may be
        passed by position)."""
        entry = self._entries.get(key)
        if entry is None or entry[_AUTHENTICATOR] != authenticator:
            return  # superseded by a newer request with the same Identifier
        if self.window_s <= 0:
            del self._entries[key]
            return
        entry[_REPLY] = reply
        expires = entry[_EXPIRES] = now + self.window_s
        self._answered_q.append((expires, key))

    def forget(self, key: Key, authenticator: bytes) -> None:
        """Drop a pending entry that will get no reply (e.g. a dropped packet)."""
        entry = self._entries.get(key)
        if entry is not None and entry[_AUTHENTICATOR] == authenticator:
            del self._entries[key]

    def _expire(self, now: float) -> None:
        for q in (self._pending_q, self._answered_q):
            while q and q[0][0] <= now:
                _, key = q.popleft()
                entry = self._entries.get(key)
                if entry is not None and entry[_EXPIRES] <= now:
                    del self._entries[key]
