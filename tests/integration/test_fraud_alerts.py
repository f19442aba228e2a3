"""Fraud alerts reach a real SMTP server (aiosmtpd) and a webhook receiver,
signed; failures are retried and logged, never raised, never waited for."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from radmfa.config import FraudConfig, LogConfig, SmtpConfig
from radmfa.core import fraud
from radmfa.core.admin_ports import Store
from radmfa.core.model import FraudReport, NewUser
from radmfa.delivery import smtp as smtp_delivery
from radmfa.delivery.alerts import FraudNotifier
from radmfa.delivery.smtp import Relay
from radmfa.delivery.webhook import SIGNATURE_HEADER
from radmfa.errors import DeliveryError
from radmfa.service.audit import configure_logging
from radmfa.store import open_store
from tests.fakes.ports import RecordingLog
from tests.peers.alerts import MailSink, WebhookReceiver, free_tcp_port

LOG = RecordingLog()  # the core's log lines (EventLog)
pytestmark = pytest.mark.integration

NOW = datetime(2030, 6, 1, 9, 30, tzinfo=UTC)
SECRET = b"webhook-secret-42"
REPORT = FraudReport(NOW, "alice", "voice", "vpn1", "198.51.100.7", phone="+14155550100")


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    s = await open_store("sqlite:///radmfa.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await s.add_user(NewUser("alice"))
    yield s  # type: ignore[misc]
    await s.close()


@pytest.fixture
def logs() -> io.StringIO:
    out = io.StringIO()
    configure_logging(LogConfig(level="info", format="json"), stream=out)
    yield out  # type: ignore[misc]
    structlog.reset_defaults()


def settings(sink: MailSink | None, hook: WebhookReceiver | None, **smtp: object) -> tuple[FraudConfig, SmtpConfig]:
    mail = SmtpConfig(host=sink.host if sink else "", port=sink.port if sink else 25, starttls=False,
                      sender="radmfa@example.com", timeout_s=30, **smtp)  # type: ignore[arg-type]
    return FraudConfig(
        notify_email=("soc@example.com", "oncall@example.com") if sink else (),
        notify_webhook=hook.url if hook else "",
        webhook_secret=SECRET if hook else b"",
    ), mail


async def test_alert_reaches_mail_and_webhook_signed(
    store: Store, mail_sink: MailSink, webhook_receiver: WebhookReceiver, logs: io.StringIO
) -> None:
    fraud_cfg, smtp_cfg = settings(mail_sink, webhook_receiver)
    notifier = FraudNotifier(fraud_cfg, smtp_cfg, server="mfa1", pauses_s=(0.01,))
    stored = await fraud.raise_alert(store, fraud_cfg, REPORT, now=NOW, notify=notifier, log=LOG)
    assert stored is not None
    assert await notifier.drain(30)
    assert (notifier.delivered, notifier.failed) == (2, 0)

    (mail,) = mail_sink.mails
    assert mail.sender == "radmfa@example.com"
    assert mail.recipients == ["soc@example.com", "oncall@example.com"]
    assert mail.message["Subject"] == "radmfa fraud alert: alice (voice)"
    body = mail.message.get_payload()
    assert "phone: +14155550100" in body and f"id: {stored.id}" in body and "server: mfa1" in body

    (hook,) = webhook_receiver.hooks
    assert hook.path == "/hooks/radmfa?token=hook-token-xyz"
    expected = "sha256=" + hmac.new(SECRET, hook.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hook.headers[SIGNATURE_HEADER], expected)
    assert hook.headers["Content-Type"] == "application/json"
    assert hook.json() == {
        "event": "fraud_report", "id": stored.id, "time": "2030-06-01T09:30:00Z", "user": "alice",
        "source": "voice", "client": "vpn1", "calling_station_id": "198.51.100.7", "phone": "+14155550100",
        "device": "", "status": "new", "note": "", "server": "mfa1",
    }
    text = logs.getvalue()
    assert text.count('"fraud alert delivered"') == 2
    assert SECRET.decode() not in text and "hook-token-xyz" not in text


async def test_webhook_failures_are_retried(store: Store, webhook_receiver: WebhookReceiver,
                                            logs: io.StringIO) -> None:
    webhook_receiver.fail_first = 2
    fraud_cfg, smtp_cfg = settings(None, webhook_receiver)
    notifier = FraudNotifier(fraud_cfg, smtp_cfg, server="mfa1", pauses_s=(0.01, 0.01, 0.01))
    await fraud.raise_alert(store, fraud_cfg, REPORT, now=NOW, notify=notifier, log=LOG)
    assert await notifier.drain(30)
    assert len(webhook_receiver.hooks) == 1 and notifier.delivered == 1
    retries = [json.loads(line) for line in logs.getvalue().splitlines() if "will retry" in line]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["error"].endswith("/… answered HTTP 500") for r in retries)  # no path, no token


async def test_raise_alert_does_not_wait_for_delivery(store: Store, webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.hold = threading.Event()
    fraud_cfg, smtp_cfg = settings(None, webhook_receiver)
    notifier = FraudNotifier(fraud_cfg, smtp_cfg, server="mfa1")
    stored = await fraud.raise_alert(store, fraud_cfg, REPORT, now=NOW, notify=notifier, log=LOG)
    # raise_alert has returned while the receiver still holds the request.
    assert stored is not None and notifier.delivered == 0 and not webhook_receiver.hooks
    webhook_receiver.hold.set()
    assert await notifier.drain(30)
    assert notifier.delivered == 1


async def test_unreachable_mail_server_is_logged_not_raised(store: Store, logs: io.StringIO) -> None:
    fraud_cfg = FraudConfig(notify_email=("soc@example.com",))
    smtp_cfg = SmtpConfig(host="127.0.0.1", port=free_tcp_port(), starttls=False, sender="r@example.com",
                          username="radmfa", password=b"mail-pass-123", timeout_s=2)
    notifier = FraudNotifier(fraud_cfg, smtp_cfg, server="mfa1", pauses_s=(0.01, 0.01))
    assert await fraud.raise_alert(store, fraud_cfg, REPORT, now=NOW, notify=notifier, log=LOG) is not None
    assert await notifier.drain(30)
    assert (notifier.delivered, notifier.failed) == (0, 1)
    text = logs.getvalue()
    assert text.count("fraud alert not delivered") == 3 and "giving up" in text
    assert "ConnectionRefusedError" in text and "mail-pass-123" not in text
    assert len(await store.list_fraud_reports()) == 1  # the report is kept either way


async def test_smtp_login_and_starttls_refusal(mail_sink: MailSink) -> None:
    cfg = SmtpConfig(host=mail_sink.host, port=mail_sink.port, starttls=False, sender="r@example.com",
                     username="radmfa", password=b"mail-pass-123")
    await smtp_delivery.send_mail(Relay.of_alerts(cfg), ["soc@example.com"], "hi\r\nBcc: evil@example.com", "body\n")
    assert mail_sink.logins == [("radmfa", "mail-pass-123")]
    (mail,) = mail_sink.mails
    assert mail.recipients == ["soc@example.com"] and mail.message["Bcc"] is None
    wrong = SmtpConfig(host=mail_sink.host, port=mail_sink.port, starttls=False, sender="r@example.com",
                       username="radmfa", password=b"nope")
    with pytest.raises(DeliveryError, match="refused the login for 'radmfa'") as e:
        await smtp_delivery.send_mail(Relay.of_alerts(wrong), ["soc@example.com"], "s", "b")
    assert "nope" not in str(e.value)
    tls = SmtpConfig(host=mail_sink.host, port=mail_sink.port, starttls=True, sender="r@example.com")
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        await smtp_delivery.send_mail(Relay.of_alerts(tls), ["soc@example.com"], "s", "b")
    assert len(mail_sink.mails) == 1
