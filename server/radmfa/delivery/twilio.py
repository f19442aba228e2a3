"""Twilio's REST API for texts and calls, and its request signature.

* Messages: POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
* Calls:    POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json
  both form-encoded, HTTP basic auth AccountSid:AuthToken.
* Callbacks to us carry X-Twilio-Signature: base64(HMAC-SHA1(auth token,
  full URL + each POST parameter name and value, sorted by name)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import aiohttp

from radmfa.config import ProviderConfig
from radmfa.delivery.http import send


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(name + params[name] for name in sorted(params))
    mac = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def valid_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    expected = twilio_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), signature.encode())


class TwilioSender:
    """SmsSender and VoiceCaller over Twilio's REST API."""

    def __init__(self, cfg: ProviderConfig, http: aiohttp.ClientSession) -> None:
        self.cfg = cfg
        self.http = http
        self._auth = aiohttp.BasicAuth(cfg.account_sid, cfg.auth_token)
        self._base = f"{cfg.base_url}/2010-04-01/Accounts/{cfg.account_sid}"

    async def _post(self, resource: str, form: dict[str, str]) -> None:
        await send(self.http, "POST", f"{self._base}/{resource}.json", where=f"provider {self.cfg.name}: {resource}",
                   timeout_s=self.cfg.timeout_s, data=form, auth=self._auth)

    async def send_sms(self, to: str, text: str) -> None:
        await self._post("Messages", {"To": to, "From": self.cfg.sender, "Body": text})

    async def place_call(self, to: str, *, answer_url: str, status_url: str) -> None:
        form = {
            "To": to,
            "From": self.cfg.sender,
            "Url": answer_url,
            "Method": "POST",
            "StatusCallback": status_url,
            "StatusCallbackMethod": "POST",
            "Timeout": "30",  # seconds of ringing before "no-answer"
        }
        await self._post("Calls", form)
