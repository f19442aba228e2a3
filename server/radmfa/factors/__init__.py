"""Second factors. A factor has start() and verify(); the registry is a dict.

"otp" is what the pipeline asks for a code: it checks every token the user
has, TOTP or HOTP. "totp" and "hotp" check only their own kind.
"""

from __future__ import annotations

from radmfa.core.ports import CodeStore, Factor
from radmfa.factors.hotp import LOOK_AHEAD
from radmfa.factors.otp import OtpFactor


def build_factors(
    store: CodeStore,
    *,
    window: int,
    prompt: str,
    max_failures: int = 10,
    lockout_s: int = 300,
    hotp_window: int = LOOK_AHEAD,
) -> dict[str, Factor]:
    def otp(kinds: tuple[str, ...], name: str) -> OtpFactor:
        return OtpFactor(
            store, prompt=prompt, kinds=kinds, name=name, totp_window=window, hotp_window=hotp_window,
            max_failures=max_failures, lockout_s=lockout_s,
        )

    return {
        "otp": otp(("totp", "hotp"), "otp"),
        "totp": otp(("totp",), "totp"),
        "hotp": otp(("hotp",), "hotp"),
    }
