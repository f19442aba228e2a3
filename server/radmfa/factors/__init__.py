"""Second factors. A factor has start() and verify(); the registry is a dict."""

from __future__ import annotations

from radmfa.core.ports import Factor, Store
from radmfa.factors.totp import TotpFactor


def build_factors(store: Store, *, window: int, prompt: str) -> dict[str, Factor]:
    return {"totp": TotpFactor(store, window=window, prompt=prompt)}
