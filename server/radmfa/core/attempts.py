"""Password-attempt budgets, decided before any argon2 work.

A budget counts, per key (a user name, a client), the password checks that
failed or have not finished yet within a fixed window: a check takes one
unit when it starts and gives it back when the password was right. So a
flood of wrong passwords from one NAS, or against one user, spends its
budget in the first ``limit`` checks, however many run at once, and what
follows is refused without hashing until the window ends; right passwords
never use a budget up.

Pure: time (monotonic seconds) is an argument. The number of keys kept is
bounded, so a flood of made-up user names costs memory only up to
``max_keys``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

USER_SPENT = "password attempts: user budget spent"
CLIENT_SPENT = "password attempts: client budget spent"
MAX_KEYS = 100_000


@dataclass
class Budget:
    limit: int  # 0 = no budget
    window_s: float
    max_keys: int = MAX_KEYS
    _used: OrderedDict[str, tuple[float, int]] = field(default_factory=OrderedDict)  # key → (window start, units)

    def _current(self, key: str, now: float) -> int:
        seen = self._used.get(key)
        if seen is None or now - seen[0] >= self.window_s:
            return 0
        return seen[1]

    def spent(self, key: str, *, now: float) -> bool:
        return self.limit > 0 and self._current(key, now) >= self.limit

    def take(self, key: str, *, now: float) -> None:
        if self.limit <= 0:
            return
        seen = self._used.get(key)
        if seen is None or now - seen[0] >= self.window_s:
            self._used.pop(key, None)
            self._used[key] = (now, 1)  # a new window, newest last
            self._trim(now)
        else:
            self._used[key] = (seen[0], seen[1] + 1)

    def give_back(self, key: str, *, now: float) -> None:
        seen = self._used.get(key)
        if seen is not None and now - seen[0] < self.window_s and seen[1] > 0:
            self._used[key] = (seen[0], seen[1] - 1)

    def _trim(self, now: float) -> None:
        # Oldest windows first: drop the ended ones, then, past max_keys, the oldest.
        while self._used:
            key, (start, _) = next(iter(self._used.items()))
            if now - start < self.window_s and len(self._used) <= self.max_keys:
                return
            del self._used[key]

    def __len__(self) -> int:
        return len(self._used)


@dataclass
class AttemptBudgets:
    """One budget per user name and one per client; both checked, both taken."""

    users: Budget
    clients: Budget

    @classmethod
    def of(cls, *, user_attempts: int, client_attempts: int, window_s: float) -> AttemptBudgets:
        return cls(Budget(user_attempts, window_s), Budget(client_attempts, window_s))

    def begin(self, user: str, client: str, *, now: float) -> str | None:
        """The refusal (an audit reason) when a budget is spent; else None,
        and one unit of each is taken until :meth:`end`."""
        if self.clients.spent(client, now=now):
            return CLIENT_SPENT
        if self.users.spent(user, now=now):
            return USER_SPENT
        self.users.take(user, now=now)
        self.clients.take(client, now=now)
        return None

    def end(self, user: str, client: str, *, ok: bool, now: float) -> None:
        """A check that began has ended: a right password gives its units back."""
        if ok:
            self.users.give_back(user, now=now)
            self.clients.give_back(client, now=now)

    def cancel(self, user: str, client: str, *, now: float) -> None:
        """A check that began but never ran (the pool was full): nothing spent."""
        self.end(user, client, ok=True, now=now)
