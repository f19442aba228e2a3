"""The console provider, for labs: no text or e-mail leaves the machine."""

from __future__ import annotations

import structlog

from radmfa.config import ProviderConfig

log = structlog.get_logger("radmfa.delivery")


class ConsoleSender:
    """Logs that a text or e-mail went out, never its content; with
    ``console_show_codes = true`` also prints it on stdout (not the log)."""

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg

    async def send_sms(self, to: str, text: str) -> None:
        log.info("console provider: text sent", provider=self.cfg.name, to=to)
        if self.cfg.show_codes:
            print(f"[console {self.cfg.name}] text to {to}: {text}", flush=True)

    async def send_email(self, to: str, *, subject: str, body: str) -> None:
        log.info("console provider: e-mail sent", provider=self.cfg.name, to=to)
        if self.cfg.show_codes:
            print(f"[console {self.cfg.name}] e-mail to {to}: {subject}\n{body}", flush=True)
