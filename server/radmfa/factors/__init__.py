"""Second factors. A factor has start() and verify(); the registry is a dict."""

from __future__ import annotations

from radmfa.core.ports import Factor, Store
from radmfa.factors.totp import TotpFactor


def build_factors(
    store: Store, *, window: int, prompt: str, max_failures: int = 10, lockout_s: int = 300
) -> dict[str, Factor]:
    return {
        "totp": TotpFactor(store, window=window, prompt=prompt, max_failures=max_failures, lockout_s=lockout_s)
    }
