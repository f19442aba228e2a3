"""Push over an ntfy server (https://docs.ntfy.sh/publish/): JSON with three
http action buttons that call radmfa's signed callback URLs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aiohttp

from radmfa.config import ProviderConfig
from radmfa.delivery.http import send


class NtfySender:
    """PushSender: publish JSON to an ntfy server with three http actions
    (https://docs.ntfy.sh/publish/#action-buttons)."""

    def __init__(self, cfg: ProviderConfig, http: aiohttp.ClientSession) -> None:
        self.cfg, self.http = cfg, http

    async def push(
        self, topic: str, *, title: str, text: str, actions: Sequence[tuple[str, str]],
        fields: Mapping[str, str] | None = None,
    ) -> None:
        body = {
            "topic": topic,
            "title": title,
            "message": text,
            "priority": 5,
            "actions": [{"action": "http", "label": label, "url": url, "method": "POST", "clear": True}
                        for label, url in actions],
        }
        headers = {"Authorization": f"Bearer {self.cfg.auth_token}"} if self.cfg.auth_token else {}
        await send(self.http, "POST", f"{self.cfg.base_url}/", where=f"provider {self.cfg.name}",
                   timeout_s=self.cfg.timeout_s, json=body, headers=headers)
