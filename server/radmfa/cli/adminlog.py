"""Who changed what: one admin_events row per successful changing command.

The row is written in the same store session as the change, after it
succeeded, so a command that fails records nothing (and changed nothing).
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime

from radmfa.core.admin_model import AdminEvent
from radmfa.core.admin_ports import AuditLog


def actor() -> str:
    """The person behind the command: under sudo, the user who ran sudo."""
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user:
        return sudo_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return f"uid:{os.getuid()}"


async def record(store: AuditLog, action: str, target: str, detail: str = "", *, by: str | None = None) -> None:
    """Log ``action`` on ``target`` as ``by`` (the management portal's
    signed-in administrator; default: the person running the command);
    ``detail`` must never hold a secret."""
    await store.write_admin_event(AdminEvent(datetime.now(UTC), by or actor(), action, target, detail))
