"""Ending a user's live sessions: Disconnect-Request to each NAS (RFC 5176).

The sessions are those the NASes' accounting recorded (store/sql_nas_sessions.py).
Each Disconnect-Request goes to the address the session's accounting came
from, on ``[clients.<name>] coa_port``, signed with ``coa_secret`` (default:
the clients.conf secret); it carries a Message-Authenticator and what
identifies the session: User-Name, Acct-Session-Id, the NAS's own
NAS-IP-Address / NAS-Identifier and the user's Framed-IP-Address as recorded,
and an Event-Timestamp. The same bytes are retransmitted until an answer
(Disconnect-ACK or -NAK, verified against the request) or the last attempt.

Each outcome is written to the admin log (``session.disconnect``). An ACK, or
a NAK saying the NAS has no such session (Error-Cause 503), ends the session
in the store; any other NAK or silence leaves it live.

Sent by the process that acted: the CLI for `radmfa session end`, `fraud
record`, `user set --state blocked` and `user reset`; the server for the
fraud reports users make (push "Deny and report fraud", the voice fraud code).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from radmfa.core.admin_model import AdminEvent, NasSession
from radmfa.core.admin_ports import AuditLog, NasSessionStore
from radmfa.core.model import FraudReport
from radmfa.core.ports import ClientPolicies
from radmfa.radius import accounting, crypto, wire
from radmfa.radius.clients import Client, ClientTable

log = structlog.get_logger("radmfa.disconnect")

TIMEOUT_S = 2.0  # per attempt
ATTEMPTS = 3
_SESSION_NOT_FOUND = 503  # RFC 5176 §3.6: the NAS has no such session; it is over


class DisconnectStore(NasSessionStore, AuditLog, Protocol):
    """What ending sessions needs of the store."""


@dataclass(frozen=True, slots=True)
class Outcome:
    session: NasSession
    result: str  # "ack" | "nak" | "no-answer" | "no-client"
    error_cause: str = ""  # the NAK's Error-Cause, "503 Session Context Not Found"
    nas: str = ""  # where it went, host:port

    def describe(self) -> str:
        cause = f" error-cause={self.error_cause}" if self.error_cause else ""
        return (f"client={self.session.client} session={self.session.session_id} nas={self.nas} "
                f"result={self.result.upper()}{cause}")


def disconnect_packet(session: NasSession, ident: int, secret: bytes, *, now: datetime) -> bytes:
    attrs: list[tuple[int, bytes]] = []
    if session.username:
        attrs.append((wire.USER_NAME, session.username.encode()))
    attrs.append((accounting.ACCT_SESSION_ID, session.session_id.encode()))
    if session.nas_ip:
        attrs.append((wire.NAS_IP_ADDRESS, socket.inet_aton(session.nas_ip)))
    if session.nas_identifier:
        attrs.append((wire.NAS_IDENTIFIER, session.nas_identifier.encode()))
    if session.framed_ip:
        attrs.append((wire.FRAMED_IP_ADDRESS, socket.inet_aton(session.framed_ip)))
    attrs.append((accounting.EVENT_TIMESTAMP, int(now.timestamp()).to_bytes(4, "big")))
    return accounting.sign_request(
        accounting.DISCONNECT_REQUEST, ident, wire.encode_attrs(attrs), secret, message_authenticator=True
    )


class _Reply(asyncio.DatagramProtocol):
    def __init__(self, request: bytes, secret: bytes) -> None:
        self.request = request
        self.secret = secret
        self.answer: asyncio.Future[wire.Frame] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.answer.done() or len(data) < wire.MIN_LEN or data[1] != self.request[1]:
            return
        try:
            frame = wire.parse(data, frozenset((accounting.DISCONNECT_ACK, accounting.DISCONNECT_NAK)))
        except wire.Malformed:
            return
        if crypto.verify_response(frame.data, self.request[4:20], self.secret, frame.ma_offset):
            self.answer.set_result(frame)
        else:
            log.warning("disconnect reply ignored: bad authenticator (wrong coa_secret?)")

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable: the NAS does not listen; the attempt times out


async def send_disconnect(
    session: NasSession, address: tuple[str, int], secret: bytes, *, timeout_s: float = TIMEOUT_S,
    attempts: int = ATTEMPTS,
) -> tuple[str, str]:
    """(result, error cause) of one Disconnect-Request to ``address``."""
    loop = asyncio.get_running_loop()
    data = disconnect_packet(session, secrets.randbelow(256), secret, now=datetime.now(UTC))
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Reply(data, secret), remote_addr=address, family=family
    )
    try:
        for _ in range(attempts):
            transport.sendto(data)
            try:
                frame = await asyncio.wait_for(asyncio.shield(protocol.answer), timeout_s)
            except TimeoutError:
                continue
            if frame.code == accounting.DISCONNECT_ACK:
                return "ack", ""
            return "nak", accounting.error_cause(frame)
        return "no-answer", ""
    finally:
        transport.close()


class Disconnector:
    """Ends users' live sessions and writes each outcome to the admin log."""

    def __init__(
        self,
        store: DisconnectStore,
        clients: Callable[[], ClientTable],
        policies: ClientPolicies,
        *,
        actor: str,
        timeout_s: float = TIMEOUT_S,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.store = store
        self.clients = clients
        self.policies = policies
        self.actor = actor
        self.timeout_s = timeout_s
        self.attempts = attempts

    async def end_user(self, username: str, reason: str) -> list[Outcome]:
        """Every live session of ``username`` (any spelling)."""
        return await self.end(await self.store.list_nas_sessions(username=username), reason)

    async def end(self, sessions: Sequence[NasSession], reason: str) -> list[Outcome]:
        """All at once, each NAS retried on its own; ``reason`` goes to the admin log."""
        by_name = {c.name: c for c in self.clients()}
        return list(await asyncio.gather(*(self._one(s, by_name.get(s.client), reason) for s in sessions)))

    async def _one(self, session: NasSession, client: Client | None, reason: str) -> Outcome:
        if client is None:
            outcome = Outcome(session, "no-client")  # removed from clients.conf since
        else:
            policy = self.policies.policy_for(client.name)
            address = (session.nas_address, policy.coa_port)
            try:
                result, cause = await send_disconnect(
                    session, address, policy.coa_secret or client.secret, timeout_s=self.timeout_s,
                    attempts=self.attempts,
                )
            except OSError as e:  # no route, address family unavailable, …
                log.warning("disconnect not sent", client=client.name, error=str(e))
                result, cause = "no-answer", ""
            host = f"[{address[0]}]" if ":" in address[0] else address[0]
            outcome = Outcome(session, result, cause, f"{host}:{address[1]}")
        now = datetime.now(UTC)
        if outcome.result == "ack" or cause_code(outcome.error_cause) == _SESSION_NOT_FOUND:
            await self.store.end_nas_session(session.id, "disconnected", now=now)
        await self.store.write_admin_event(
            AdminEvent(now, self.actor, "session.disconnect", session.username, f"{outcome.describe()} why={reason}")
        )
        log.info("disconnect", user=session.username, client=session.client, session=session.session_id,
                 result=outcome.result, error_cause=outcome.error_cause, reason=reason)
        return outcome


def cause_code(error_cause: str) -> int | None:
    head = error_cause.partition(" ")[0]
    return int(head) if head.isdigit() else None


def ending_sessions(notify: Callable[[FraudReport], Awaitable[None]], disconnector: Disconnector
                    ) -> Callable[[FraudReport], Awaitable[None]]:
    """A fraud notifier that also ends the reported user's live sessions, in
    the background: the push or call that reported it is answered at once."""
    tasks: set[asyncio.Task[list[Outcome]]] = set()

    async def on_report(report: FraudReport) -> None:
        await notify(report)
        task = asyncio.get_running_loop().create_task(
            disconnector.end_user(report.username, f"fraud report {report.id}")
        )
        tasks.add(task)
        task.add_done_callback(_finished(tasks))

    return on_report


def _finished(tasks: set[asyncio.Task[list[Outcome]]]) -> Callable[[asyncio.Task[list[Outcome]]], None]:
    def done(task: asyncio.Task[list[Outcome]]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("live sessions not ended", error=str(task.exception()))

    return done
