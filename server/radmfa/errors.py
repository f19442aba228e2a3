"""Small error hierarchy. Messages are sentences an operator can act on."""

from __future__ import annotations


class RadmfaError(Exception):
    """Base class for errors radmfa reports to a person."""


class ConfigError(RadmfaError):
    """Configuration is invalid; the message names the file, line or key."""


class StoreError(RadmfaError):
    """The store refused an operation (the message says why)."""


class AlreadyExists(StoreError):
    """A user or token with that name already exists."""


class NotFound(StoreError):
    """No such user or token."""


def no_such_user(name: str) -> NotFound:
    """The one sentence every command and the store use for a missing user."""
    return NotFound(f"no such user: {name}")


class LimitReached(StoreError):
    """A per-user limit (e.g. 40 app passwords) is reached."""


class UpstreamUnavailable(RadmfaError):
    """No upstream server answered. Primary authentication fails closed on this."""

    def __init__(self, message: str, *, tried: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tried = tried


class DeliveryError(RadmfaError):
    """A provider did not take a text, call, push or e-mail (the message says
    which provider and why, never the code)."""
