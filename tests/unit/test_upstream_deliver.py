"""A reply on an upstream socket resolves its request only when it is the
first verified answer from a server the request went to: one from another
source, a second answer, a reply signed for another Request Authenticator
and a reply to an Identifier not in flight are ignored, each for its reason,
and leave the request as it was."""

from __future__ import annotations

import asyncio

from radmfa.config import UpstreamConfig
from radmfa.radius import crypto, wire
from radmfa.upstream import radius
from radmfa.upstream.radius import RadiusUpstream

SECRET = b"upstream-secret"
AUTH = bytes(range(16, 32))
SERVER = ("127.0.0.1", 1812)
OTHER = ("127.0.0.1", 1813)


def _accept(ident: int, authenticator: bytes = AUTH) -> bytes:
    return crypto.sign_response(wire.ACCESS_ACCEPT, ident, authenticator, b"", SECRET)


async def test_only_the_first_verified_answer_from_a_server_sent_to_counts() -> None:
    owner = RadiusUpstream(UpstreamConfig("radius", (SERVER, OTHER), SECRET))
    sock = radius._Socket(owner)
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    entry = [AUTH, (SERVER,), waiter, None, None]
    sock.pending[9] = entry

    assert sock._deliver(_accept(8), SERVER) == "unknown or late"  # no request with that Identifier
    assert sock._deliver(_accept(9), OTHER) == "wrong source"
    assert sock._deliver(_accept(9, bytes(16)), SERVER) == "bad authenticator (wrong secret?)"
    assert not waiter.done() and entry[radius._REPLY] is None

    assert sock._deliver(_accept(9), SERVER) == ""
    assert waiter.done() and entry[radius._ANSWERED_BY] == SERVER
    reply = entry[radius._REPLY]
    assert reply is not None and reply.code == wire.ACCESS_ACCEPT and reply.ident == 9

    assert sock._deliver(_accept(9), SERVER) == "unknown or late"  # a second answer
    assert entry[radius._REPLY] is reply


async def test_a_late_answer_to_an_earlier_attempt_resolves_the_current_one() -> None:
    owner = RadiusUpstream(UpstreamConfig("radius", (SERVER, OTHER), SECRET))
    sock = radius._Socket(owner)
    # The first attempt went to SERVER and timed out; the retransmission to
    # OTHER waits on a fresh waiter when SERVER's answer comes.
    entry = [AUTH, (SERVER, OTHER), asyncio.get_running_loop().create_future(), None, None]
    sock.pending[3] = entry
    assert sock._deliver(_accept(3), SERVER) == ""
    assert entry[radius._WAITER].done() and entry[radius._ANSWERED_BY] == SERVER
