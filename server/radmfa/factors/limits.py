"""Abuse limits seam (issue 4b builds radmfa.limits with this shape).

Called right before a code is texted or e-mailed, a call placed or a push
sent. None = allowed (and counted); otherwise the Reply-Message text, and
the audit reason is "rate-limited".
"""

from __future__ import annotations

from datetime import datetime

from radmfa.core.ports import Store


async def allow_send(store: Store, settings: object, *, user: str, method: str, now: datetime) -> str | None:
    return None
