"""The one HTTP client of delivery (aiohttp, in the event loop): provider
APIs (twilio.py, ntfy.py), generic webhooks and the fraud-alert webhook
(webhook.py). A RADIUS answer never waits for it in a thread.

Errors are DeliveryError naming the provider or the webhook's host only: a
URL's path or query often holds an access token, and errors are logged.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import aiohttp

from radmfa import metrics
from radmfa.errors import DeliveryError


def shown(url: str) -> str:
    """The URL's scheme, host and port only, for logs."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}/…"


def _why(e: BaseException) -> str:
    if isinstance(e, aiohttp.ClientConnectorError) and e.os_error.strerror:
        return e.os_error.strerror  # "Connection refused", not the URL
    if isinstance(e, TimeoutError):
        return "timed out"
    return type(e).__name__


async def send(
    http: aiohttp.ClientSession, method: str, url: str, *, where: str, timeout_s: float, **kw: Any
) -> None:
    """One request; DeliveryError unless the receiver answers 2xx. Redirects
    are not followed: one would turn a POST into a GET elsewhere."""
    started = time.perf_counter()
    ok = False
    why = "failed"
    try:
        async with http.request(
            method, url, timeout=aiohttp.ClientTimeout(total=timeout_s), allow_redirects=False, **kw
        ) as resp:
            if not 200 <= resp.status < 300:
                why = f"HTTP {resp.status}"
                raise DeliveryError(f"{where} answered HTTP {resp.status}")
            ok = True
    except (aiohttp.ClientError, TimeoutError) as e:
        why = _why(e)
        raise DeliveryError(f"{where}: request failed: {why}") from None
    finally:
        metrics.current.provider(provider_name(where), time.perf_counter() - started, ok=ok, reason="" if ok else why)


def provider_name(where: str) -> str:
    """"provider twilio: Messages" → "twilio"; a webhook stays "webhook https://host/…"."""
    return where.split(": ", 1)[0].removeprefix("provider ")
