"""RadiusUpstream against real FreeRADIUS, and against a scripted UDP peer for
the misbehaviours FreeRADIUS will not produce (spoofed source, bad MA)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from radmfa.config import UpstreamConfig
from radmfa.core.model import AuthRequest
from radmfa.errors import UpstreamUnavailable
from radmfa.radius import crypto, packet, wire
from radmfa.upstream.radius import RadiusUpstream
from tests.peers.fixtures import UPSTREAM_SECRET

pytestmark = pytest.mark.integration


def request(user: bytes, attrs=()) -> AuthRequest:
    base = ((wire.USER_NAME, user), (wire.USER_PASSWORD, b"x" * 16), *attrs)
    return AuthRequest("r", "nas", "127.0.0.1", user, b"", None, "", bytes(16), base)


async def test_many_concurrent_requests_use_more_sockets_and_never_collide(freeradius_factory):
    fr = freeradius_factory(mode="ack", secret=UPSTREAM_SECRET)
    up = RadiusUpstream(UpstreamConfig("radius", (fr.address,), UPSTREAM_SECRET.encode(), timeout_s=10, retries=2))
    await up.start()
    try:
        results = await asyncio.gather(*(up.authenticate(request(f"u{i}".encode()), b"pw") for i in range(700)))
        assert all(r.accepted for r in results)
        assert len(up._sockets[socket.AF_INET]) >= 3  # 256 Identifiers per source port
        assert up.dropped_replies == 0
    finally:
        await up.close()


async def test_attributes_pass_through_and_password_rehidden(freeradius_factory, freeradius_upstream):
    up = RadiusUpstream(
        UpstreamConfig("radius", (freeradius_upstream.address,), UPSTREAM_SECRET.encode(), timeout_s=10, retries=1)
    )
    await up.start()
    try:
        ok = await up.authenticate(request(b"alice", [(wire.PROXY_STATE, b"nas-ps")]), b"alice-pw")
        assert ok.accepted
        names = {t for t, _ in ok.reply_attrs}
        assert 11 in names and wire.CLASS in names  # Filter-Id, Class
        assert wire.PROXY_STATE not in names
        bad = await up.authenticate(request(b"alice"), b"wrong")
        assert not bad.accepted
    finally:
        await up.close()


class Scripted(asyncio.DatagramProtocol):
    """A UDP peer that answers with real crypto, and misbehaves on request."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.seen: list[bytes] = []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.seen.append(data)
        frame = wire.parse(data)
        assert data[20] == wire.MESSAGE_AUTHENTICATOR  # BLAST-6: MA first in what we send
        assert crypto.verify_request_ma(frame.data, frame.ma_offset, UPSTREAM_SECRET.encode())
        secret = UPSTREAM_SECRET.encode()
        key = bytes(range(32))
        plain = [(wire.VENDOR_SPECIFIC, packet._MS_PREFIX + bytes((16, len(key) + 2)) + key)]
        enc = packet.conceal(plain, secret, frame.authenticator)
        reply = crypto.sign_response(
            wire.ACCESS_ACCEPT, frame.ident, frame.authenticator, wire.encode_attrs(enc), secret
        )
        if self.mode == "spoof":
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            other.sendto(reply, addr)  # right bytes, wrong source port
            other.close()
        elif self.mode == "bad_ma":
            broken = bytearray(reply)
            broken[25] ^= 1
            self.transport.sendto(bytes(broken), addr)
        elif self.mode == "drop_first" and len(self.seen) == 1:
            pass
        else:
            self.transport.sendto(reply, addr)


async def scripted(mode: str):
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: Scripted(mode), local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("sockname")[:2]


@pytest.mark.parametrize("mode", ["spoof", "bad_ma"])
async def test_unverifiable_replies_are_ignored(mode):
    transport, proto, addr = await scripted(mode)
    # Each attempt waits long enough for the (bad) reply to arrive on a busy machine.
    up = RadiusUpstream(UpstreamConfig("radius", (addr,), UPSTREAM_SECRET.encode(), timeout_s=2, retries=2))
    await up.start()
    try:
        with pytest.raises(UpstreamUnavailable):
            await up.authenticate(request(b"alice"), b"pw")
        assert len(proto.seen) == 2 and proto.seen[0] == proto.seen[1]  # retransmission: same bytes
        assert up.dropped_replies == 2
    finally:
        await up.close()
        transport.close()


async def test_retransmission_and_mppe_key_reencryption():
    transport, proto, addr = await scripted("drop_first")
    up = RadiusUpstream(UpstreamConfig("radius", (addr,), UPSTREAM_SECRET.encode(), timeout_s=2, retries=3))
    await up.start()
    try:
        result = await up.authenticate(request(b"alice"), b"pw")
        assert result.accepted and proto.seen[0] == proto.seen[1]
        vsa = dict(result.reply_attrs)[wire.VENDOR_SPECIFIC]
        assert vsa[6:] == bytes(range(32))  # decrypted with the upstream secret + its RA
        # and re-encrypted for the NAS with the NAS's secret and authenticator
        nas_ra = bytes(16)
        out = packet.conceal(list(result.reply_attrs), b"nas-secret", nas_ra)
        assert packet.reveal(out, b"nas-secret", nas_ra) == list(result.reply_attrs)
        assert out[0][1][6] & 0x80, out  # salt MSB set
    finally:
        await up.close()
        transport.close()


async def test_mixed_families_and_unresolvable_names(freeradius_factory):
    from radmfa.errors import ConfigError

    fr = freeradius_factory(mode="ack", secret=UPSTREAM_SECRET)
    dead6 = ("::1", 9)  # discard port on IPv6 loopback: nobody answers
    cfg = UpstreamConfig("radius", (dead6, fr.address), UPSTREAM_SECRET.encode(), timeout_s=2, retries=2)
    up = RadiusUpstream(cfg)
    await up.start()
    try:
        assert (await up.authenticate(request(b"u"), b"pw")).accepted  # IPv6 first, IPv4 answers
    finally:
        await up.close()
    bad = RadiusUpstream(UpstreamConfig("radius", (("no-such-host.invalid", 1812),), b"s"))
    with pytest.raises(ConfigError, match="cannot resolve"):
        await bad.start()


async def test_a_server_that_timed_out_waits_behind_the_live_ones_for_its_dead_time(freeradius_factory):
    # upstream/failover.py: the silent server is tried first once, then not
    # while FreeRADIUS answers; the packets it received are counted.
    fr = freeradius_factory(mode="ack", secret=UPSTREAM_SECRET)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.setblocking(False)
    cfg = UpstreamConfig("radius", (silent.getsockname(), fr.address), UPSTREAM_SECRET.encode(), timeout_s=1,
                         retries=2, dead_time_s=60, status_check_interval_s=0)
    up = RadiusUpstream(cfg)
    await up.start()
    try:
        for user in (b"u1", b"u2", b"u3"):
            assert (await up.authenticate(request(user), b"pw")).accepted
        assert up.failover.dead(now=time.monotonic()) == [silent.getsockname()]
        assert up.healthy()
    finally:
        await up.close()
    received = 0
    with contextlib.suppress(BlockingIOError):
        while silent.recv(4096):
            received += 1
    silent.close()
    assert received == 1  # the first login's first attempt only


class Selective(asyncio.DatagramProtocol):
    """Answers every request but those for User-Name "silent"."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        frame = wire.parse(data)
        if frame.get(wire.USER_NAME) != b"silent":
            secret = UPSTREAM_SECRET.encode()
            self.transport.sendto(crypto.sign_response(wire.ACCESS_REJECT, frame.ident, frame.authenticator, b"",
                                                       secret), addr)


async def test_each_attempt_times_out_at_its_own_deadline_with_answered_ones_around_it():
    # One timer serves every attempt: armed for an answered attempt's
    # deadline, it must neither wake a later attempt early nor forget it.
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Selective, local_addr=("127.0.0.1", 0))
    up = RadiusUpstream(UpstreamConfig("radius", (transport.get_extra_info("sockname")[:2],),
                                       UPSTREAM_SECRET.encode(), timeout_s=0.4, retries=1))
    await up.start()

    async def silent(delay: float) -> float:
        await asyncio.sleep(delay)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable):
            await up.authenticate(request(b"silent"), b"pw")
        return time.monotonic() - started

    try:
        assert not (await up.authenticate(request(b"first"), b"pw")).accepted  # arms the timer at +0.4 s
        late, early = await asyncio.wait_for(asyncio.gather(silent(0.2), silent(0.0)), 10)
        for _ in range(20):  # answered attempts leave nothing waiting behind them
            assert not (await up.authenticate(request(b"next"), b"pw")).accepted
        assert min(early, late) >= 0.39, (early, late)  # never before its own deadline
        assert max(early, late) < 5.0, (early, late)  # nor long after it
        assert len(up._deadlines) <= 1
    finally:
        await up.close()
        transport.close()
