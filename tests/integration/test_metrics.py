"""GET /metrics end to end: radmfa with two workers (real process) → FreeRADIUS,
radclient and a raw UDP socket as the NASes, a scrape over real HTTP parsed
with prometheus_client's own parser.

The counters must equal what was sent, per response code and client, whichever
worker answered a request and whichever answers the scrape.
"""

from __future__ import annotations

import os
import secrets
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, Radmfa, access_request
from tests.integration.test_foundation import upstream_cfg
from tests.peers.ports import free_tcp_port
from tests.peers.rawnas import RawNas

pytestmark = pytest.mark.integration

CLIENTS = (
    f'client localhost {{\n  ipaddr = 127.0.0.1\n  secret = "{NAS_SECRET}"\n  require_message_authenticator = yes\n}}\n'
    f'client nas-b {{\n  ipaddr = 127.0.0.2\n  secret = "{NAS_SECRET}"\n  require_message_authenticator = yes\n}}\n'
)
USER_NAME, USER_PASSWORD = 1, 2


Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(port: int) -> Samples:
    """Every sample of a /metrics scrape, by sample name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:  # noqa: S310
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = resp.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def settled(port: int, name: str, labels: tuple[str, ...], expected: dict[tuple[str, ...], int]) -> Samples:
    """A scrape once ``name`` by ``labels`` shows ``expected``: each worker
    moves its counts to the shared files once a second."""
    deadline = time.monotonic() + REPLY_WAIT_S
    while True:
        samples = scrape(port)
        if dict(by(samples, name, *labels)) == expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def by(samples: Samples, name: str, *labels: str) -> Counter[tuple[str, ...]]:
    """The samples of ``name`` summed over every label but ``labels``."""
    out: Counter[tuple[str, ...]] = Counter()
    for values, value in samples.get(name, []):
        out[tuple(values[label] for label in labels)] += int(value)
    return out


def make(radmfa_factory, fr, tmp_name: str = "metrics-files") -> tuple[Radmfa, int]:
    port = free_tcp_port()
    server = radmfa_factory(
        upstream=upstream_cfg(fr.address),
        mfa='new_user = "allow"',
        clients=CLIENTS,
        radius_extra="reject_delay_s = 0\nworkers = 2",
        extra=f'\n[metrics]\nlisten = ["127.0.0.1:{port}"]\ndirectory = "{tmp_name}"\n',
    )
    server.add_users(("alice", None, secrets.token_bytes(20)), ("bob", None, None))
    return server, port


def from_nas_b(server: Radmfa, count: int) -> None:
    """``count`` Accepts for bob, sent from 127.0.0.2 (the client nas-b)."""
    with RawNas(("127.0.0.1", server.port), bind=("127.0.0.2", 0)) as nas:
        for ident in range(count):
            data, _ = access_request(ident, [(USER_NAME, b"bob")], password=b"bob-pw")
            reply = nas.exchange(data)
            assert reply is not None and reply[0] == 2, server.log_text()[-4000:]


def test_counters_equal_the_requests_sent_per_code_and_client(radmfa_factory, freeradius_upstream, radclient):
    server, port = make(radmfa_factory, freeradius_upstream)
    server.start()
    accepts = [{"User-Name": "bob", "User-Password": "bob-pw"}] * 5  # no factor yet: new_user = "allow"
    rejects = [{"User-Name": "alice", "User-Password": "wrong"}] * 4  # FreeRADIUS rejects
    challenges = [{"User-Name": "alice", "User-Password": "alice-pw"}] * 3  # asks for the TOTP code
    replies = radclient(server.address, NAS_SECRET, accepts + rejects + challenges, parallel=4)
    codes = Counter(reply.code for reply in replies)
    assert codes == {"Access-Accept": 5, "Access-Reject": 4, "Access-Challenge": 3}, replies.output
    from_nas_b(server, 2)
    with RawNas(("127.0.0.1", server.port), timeout=0.5) as nas:  # Length says 80, 20 octets came
        nas.send(b"\x01\x07\x00\x50" + os.urandom(16))
    with RawNas(("127.0.0.1", server.port), bind=("127.0.0.3", 0), timeout=0.5) as nas:  # no such client
        nas.send(access_request(9, [(USER_NAME, b"bob")], password=b"bob-pw")[0])
    server.wait_for_event("packet dropped", reason="unknown_client")  # the datagrams arrived

    expected = {
        ("access_accept", "localhost"): 5, ("access_reject", "localhost"): 4,
        ("access_challenge", "localhost"): 3, ("access_accept", "nas-b"): 2,
    }
    drops_expected = {("truncated", "localhost"): 1, ("unknown_client", ""): 1}
    settled(port, "radmfa_requests_total", ("code", "client"), expected)
    for _ in range(4):  # SO_REUSEPORT: successive scrapes reach either worker; each shows both workers' counts
        samples = scrape(port)
        assert dict(by(samples, "radmfa_requests_total", "code", "client")) == expected
        assert dict(by(samples, "radmfa_packets_dropped_total", "reason", "client")) == drops_expected
        assert sum(by(samples, "radmfa_decision_seconds_count").values()) == 14
        assert by(samples, "radmfa_decision_seconds_count", "result") == {
            ("accept",): 7, ("reject",): 4, ("challenge",): 3}
    assert by(samples, "radmfa_requests_total", "code", "reason") == {
        ("access_accept", "new-user: password only until enrolled"): 7,
        ("access_reject", "upstream reject"): 4, ("access_challenge", "challenge sent"): 3}
    upstream = f"{freeradius_upstream.address[0]}:{freeradius_upstream.address[1]}"
    assert by(samples, "radmfa_upstream_seconds_count", "server")[(upstream,)] == 14  # every request asked FreeRADIUS
    assert by(samples, "radmfa_upstream_up", "server") == {(upstream,): 1}
    assert by(samples, "radmfa_pending_challenges") == {(): 3}  # each challenge left open
    assert by(samples, "radmfa_held_requests") == {(): 0}
    assert sum(by(samples, "radmfa_store_seconds_count").values()) > 0

    # A restart starts from zero: the workers' files of the last run are removed.
    assert server.stop() == 0
    server.start()
    from_nas_b(server, 1)
    samples = settled(port, "radmfa_requests_total", ("code", "client"), {("access_accept", "nas-b"): 1})
    assert dict(by(samples, "radmfa_requests_total", "code", "client")) == {("access_accept", "nas-b"): 1}
    assert by(samples, "radmfa_packets_dropped_total") == {}


def test_one_process_serves_only_metrics_and_a_taken_port_names_the_key(radmfa_factory, freeradius_upstream):
    port = free_tcp_port()
    server = radmfa_factory(
        upstream=upstream_cfg(freeradius_upstream.address), mfa='new_user = "allow"', clients=CLIENTS,
        extra=f'\n[metrics]\nlisten = ["127.0.0.1:{port}"]\n',
    )
    server.add_users(("bob", None, None))
    server.start()
    from_nas_b(server, 3)
    samples = settled(port, "radmfa_requests_total", ("code", "client"), {("access_accept", "nas-b"): 3})
    assert dict(by(samples, "radmfa_requests_total", "code", "client")) == {("access_accept", "nas-b"): 3}
    assert by(samples, "radmfa_decision_seconds_count", "result", "factor") == {("accept", "none"): 3}
    for path in ("/healthz", "/cb/push/1/approve", "/"):  # the callbacks live on [http], not here
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30)  # noqa: S310
        refused.value.close()
        assert refused.value.code in (404, 405)

    second = radmfa_factory(  # the same metrics address: start-up stops, naming the setting
        upstream=upstream_cfg(freeradius_upstream.address), extra=f'\n[metrics]\nlisten = ["127.0.0.1:{port}"]\n',
    )
    with pytest.raises(RuntimeError, match=r"\[metrics\] listen: .*127\.0\.0\.1.*"):
        second.start()
