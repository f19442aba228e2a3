"""systemd sd_notify (Type=notify): a datagram to $NOTIFY_SOCKET.

Small enough to own rather than depend on a package for it.
"""

from __future__ import annotations

import os
import socket


def sd_notify(message: str) -> bool:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(path)
            s.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True
