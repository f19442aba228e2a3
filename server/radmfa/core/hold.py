"""How a held request asks for more time than [radius] request_timeout_s.

The listener's watchdog cancels requests past their deadline (a hung store
or peer). A request held for a call or push legitimately waits up to
[mfa] oob_timeout_s, so the listener puts a function here, per request task
(a ContextVar is task-local), that moves this request's deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

extend_deadline: ContextVar[Callable[[float], None] | None] = ContextVar("extend_deadline", default=None)


def allow(seconds: float) -> None:
    """Let the current request run ``seconds`` more from now."""
    extend = extend_deadline.get()
    if extend is not None:
        extend(seconds)
