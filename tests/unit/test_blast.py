"""The BlastRADIUS screen answers each packet as its rules say, whether or
not a client's "auto" settings are already decided (the screen stops
re-deciding them once nothing is left to learn)."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from radmfa.radius import crypto, wire
from radmfa.radius.blast import BlastGuard
from radmfa.radius.clients import Client

SECRET = b"blast-test-secret"


class _Relearning(BlastGuard):
    """Decides every packet the long way: nothing is ever settled."""

    def _learn(self, client, has_ma, frame, proxy_states):
        result = super()._learn(client, has_ma, frame, proxy_states)
        self._settled.clear()
        return result


def _client(require_ma: str, limit_ps: str, network: str) -> Client:
    return Client("nas", ipaddress.ip_network(network), SECRET, "nas", require_ma, limit_ps, "test:1")


def _frame(code: int, with_ma: bool, eap: bool, proxy_states: int, forged: bool) -> wire.Frame:
    attrs = [(wire.USER_NAME, b"pat")] + [(wire.PROXY_STATE, b"%d" % i) for i in range(proxy_states)]
    if eap:
        attrs.append((wire.EAP_MESSAGE, b"\x02\x01\x00\x05\x01"))
    body = wire.encode_attrs(attrs)
    auth = bytes(range(16))
    if with_ma:
        data = crypto.sign_request(code, 1, auth, body, b"wrong" if forged else SECRET)
    else:
        data = struct.pack("!BBH", code, 1, 20 + len(body)) + auth + body
    return wire.parse(data)


_PACKET = st.tuples(st.sampled_from([wire.ACCESS_REQUEST, wire.STATUS_SERVER]), st.booleans(), st.booleans(),
                    st.sampled_from([0, 1, 2, 11]), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["yes", "no", "auto"]), st.sampled_from(["yes", "no", "auto"]),
       st.sampled_from(["192.0.2.1/32", "192.0.2.0/24"]), st.lists(_PACKET, min_size=1, max_size=8))
def test_settled_clients_get_the_same_answers(require_ma, limit_ps, network, packets):
    client = _client(require_ma, limit_ps, network)
    fast, slow = BlastGuard(), _Relearning()
    for packet in packets:
        frame = _frame(*packet)
        assert fast.screen(frame, client) == slow.screen(frame, client)


def test_auto_is_decided_by_the_first_packet():
    client = _client("auto", "auto", "192.0.2.1/32")
    guard = BlastGuard()
    assert guard.screen(_frame(wire.ACCESS_REQUEST, True, False, 0, False), client) == ""
    assert guard.screen(_frame(wire.ACCESS_REQUEST, True, False, 0, False), client) == ""
    assert guard.screen(_frame(wire.ACCESS_REQUEST, False, False, 0, False), client) == "blastradius_missing_ma"
    assert guard.screen(_frame(wire.ACCESS_REQUEST, True, False, 0, True), client) == "bad_message_authenticator"
    assert guard.screen(_frame(wire.ACCESS_REQUEST, True, False, 11, False), client) == "proxy_loop"


def test_a_client_of_the_same_name_with_other_settings_is_not_settled_by_it():
    udp = _client("auto", "auto", "192.0.2.1/32")
    tls = _client("no", "no", "192.0.2.1/32")  # RadSec's view of the same client
    fast, slow = BlastGuard(), _Relearning()
    for client, packet in [(tls, (1, True, False, 0, False)), (udp, (1, True, False, 0, False)),
                           (udp, (1, False, False, 0, False))]:
        frame = _frame(*packet)
        assert fast.screen(frame, client) == slow.screen(frame, client)
    assert fast.screen(_frame(1, False, False, 0, False), udp) == "blastradius_missing_ma"
