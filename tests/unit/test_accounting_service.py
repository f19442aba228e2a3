"""The accounting listener's rules on its own (service/accounting.py): what is
answered, what is dropped and counted, on a store that can be made to fail.
The end-to-end behaviour with radclient and FreeRADIUS is in
tests/integration/test_accounting.py."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from radmfa.config import ClientPolicy, RadiusConfig
from radmfa.radius import accounting, wire
from radmfa.radius.accounting import AccountingEvent
from radmfa.radius.clients import parse_clients
from radmfa.radius.dedup import DedupCache
from radmfa.service.accounting import AccountingService
from radmfa.service.policies import PolicyTable

SECRET = b"nas-secret"
CLIENTS = parse_clients('client nas { ipaddr = 127.0.0.1\n secret = "nas-secret" }\n')
NAS = ("127.0.0.1", 40000)


class Store:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, AccountingEvent]] = []
        self.fail = False

    async def record_accounting(self, client: str, nas_address: str, event: AccountingEvent, *, now: datetime) -> None:
        if self.fail:
            raise OSError("database is down")
        self.recorded.append((client, nas_address, event))


class Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def request(ident: int, status: int, secret: bytes = SECRET) -> bytes:
    attrs = wire.encode_attrs([(accounting.ACCT_STATUS_TYPE, status.to_bytes(4, "big")),
                               (accounting.ACCT_SESSION_ID, b"S-1"), (wire.USER_NAME, b"alice")])
    return accounting.sign_request(wire.ACCOUNTING_REQUEST, ident, attrs, secret, message_authenticator=False)


async def exchange(service: AccountingService, dedup: DedupCache, data: bytes) -> Transport:
    transport = Transport()
    service.receive(data, NAS, transport, dedup)
    await service.drain(10)
    return transport


def make() -> tuple[AccountingService, Store, DedupCache]:
    store = Store()
    cfg = RadiusConfig()
    service = AccountingService(cfg, lambda: CLIENTS, store, {}, PolicyTable({"nas": ClientPolicy(name="nas")}))
    return service, store, DedupCache(cfg.duplicate_window_s)


def test_recorded_then_answered_and_a_retransmission_is_not_recorded_again() -> None:
    async def run() -> None:
        service, store, dedup = make()
        data = request(5, accounting.START)
        first = await exchange(service, dedup, data)
        again = await exchange(service, dedup, data)
        assert len(store.recorded) == 1 and store.recorded[0][:2] == ("nas", "127.0.0.1")
        assert first.sent == again.sent and len(first.sent) == 1
        reply = wire.parse(first.sent[0])
        assert reply.code == wire.ACCOUNTING_RESPONSE
        assert accounting.verify_response(reply, data[4:20], SECRET)
        assert service.answered == {"start": 1, "duplicate_resent": 1}

    asyncio.run(run())


def test_a_store_failure_gets_no_answer_and_the_retransmission_is_tried_again() -> None:
    async def run() -> None:
        service, store, dedup = make()
        store.fail = True
        data = request(6, accounting.STOP)
        assert (await exchange(service, dedup, data)).sent == []
        assert service.dropped["store_failed"] == 1
        store.fail = False
        assert len((await exchange(service, dedup, data)).sent) == 1  # not answered from the cache: recorded now
        assert len(store.recorded) == 1

    asyncio.run(run())


def test_drops_are_counted() -> None:
    async def run() -> None:
        service, store, dedup = make()
        assert (await exchange(service, dedup, request(7, accounting.START, b"wrong"))).sent == []
        transport = Transport()
        service.receive(request(8, accounting.START), ("192.0.2.99", 1), transport, dedup)  # not a client
        no_status = accounting.sign_request(wire.ACCOUNTING_REQUEST, 9, b"", SECRET, message_authenticator=False)
        assert (await exchange(service, dedup, no_status)).sent == []
        access = request(10, accounting.START)
        assert (await exchange(service, dedup, bytes((1,)) + access[1:])).sent == []  # not an Accounting-Request
        assert transport.sent == [] and store.recorded == []
        assert service.dropped == {"bad_authenticator": 1, "unknown_client": 1, "no_status_type": 1, "bad_code": 1}

    asyncio.run(run())
