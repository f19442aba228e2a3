"""POST a JSON body to a URL, signed with HMAC-SHA256 (RFC 2104) when a
secret is configured, so the receiver can tell radmfa's alerts from forgeries.

The signature header is ``X-Radmfa-Signature-256: sha256=<hex>`` over the
exact body bytes (the scheme GitHub's webhooks use, which receivers know how
to check). urllib blocks, so the request runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from radmfa.errors import DeliveryError

SIGNATURE_HEADER = "X-Radmfa-Signature-256"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET elsewhere: report it instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


async def post_json(url: str, payload: object, *, secret: bytes = b"", timeout_s: float = 10.0) -> None:
    """Raises DeliveryError unless the receiver answers 2xx."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "radmfa"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (http(s) only, config.py)
    await asyncio.to_thread(_post, request, timeout_s)


def shown(url: str) -> str:
    """The URL's scheme, host and port only: a webhook's path or query often
    holds its access token, and errors are logged."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}/…"


def _post(request: urllib.request.Request, timeout_s: float) -> None:
    where = f"webhook {shown(request.full_url)}"
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        raise DeliveryError(f"{where} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DeliveryError(f"{where}: {getattr(e, 'reason', e)}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{where} answered HTTP {status}")
