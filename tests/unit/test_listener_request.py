"""What the listener hands the pipeline: each attribute type's first value
(User-Name, State, Calling-Station-Id made printable), the password unhidden,
and every attribute as it came, whatever their order or repetition."""

from __future__ import annotations

import ipaddress
import random

from radmfa.config import RadiusConfig
from radmfa.core import policy
from radmfa.core.model import AuditRecord
from radmfa.radius import crypto, wire
from radmfa.radius.clients import Client, ClientTable
from radmfa.service.audit import AuditSink
from radmfa.service.policies import PolicyTable
from radmfa.service.radius import RadiusService

SECRET = b"request-test-secret"
AUTH = bytes(range(16))
NAS = ("127.0.0.1", 40001)


class _Rows:
    async def write_audit(self, rows: list[AuditRecord]) -> None:
        return None


class _Never:
    async def handle(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("not called")


def _service() -> tuple[RadiusService, Client]:
    client = Client("nas", ipaddress.ip_network("127.0.0.1/32"), SECRET, "nas", "no", "no", "test:1")
    service = RadiusService(
        RadiusConfig(), ClientTable([client]), _Never(), AuditSink(_Rows()),  # type: ignore[arg-type]
        policies=PolicyTable(), upstream_healthy=lambda: True,
    )
    return service, client


def _frame(attrs: list[wire.Attr]) -> wire.Frame:
    return wire.Frame(wire.ACCESS_REQUEST, 7, AUTH, b"", tuple(attrs), -1, 0)


def test_each_type_gives_its_first_value_whatever_the_order() -> None:
    service, client = _service()
    rng = random.Random(5)
    hidden = crypto.hide_password(b"pw", SECRET, AUTH)
    pool = [
        (wire.USER_NAME, b"pat"), (wire.USER_PASSWORD, hidden), (wire.STATE, b"s1"),
        (wire.CALLING_STATION_ID, b"10.0.0.9"), (wire.CALLING_STATION_ID, b"second\x00"),
        (wire.CALLING_STATION_ID, b"esc\x1b"), (wire.NAS_IDENTIFIER, b"nas-1"), (wire.CLASS, b"c"),
    ]
    for _ in range(300):
        attrs = rng.sample(pool, rng.randint(0, len(pool)))
        request = service._request(_frame(attrs), client, NAS)
        assert request is not None
        first = dict(reversed(attrs))  # the rule written plainly
        assert request.username == first.get(wire.USER_NAME)
        assert request.state == first.get(wire.STATE)
        assert request.password == (b"pw" if wire.USER_PASSWORD in first else None)
        assert request.calling_station_id == policy.printable(first.get(wire.CALLING_STATION_ID))
        assert request.attrs == tuple(attrs)
        assert (request.client, request.client_ip, request.authenticator) == ("nas", NAS[0], AUTH)


def test_a_password_of_an_illegal_length_gives_no_request() -> None:
    service, client = _service()
    assert service._request(_frame([(wire.USER_PASSWORD, b"x" * 15)]), client, NAS) is None
