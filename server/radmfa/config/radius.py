"""``[radius]``: the NAS-facing listener."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from radmfa.config.reader import HostPort, Section
from radmfa.config.tls import RADSEC_PORT, tls_file

# What a request gets when a backend (upstream, store) fails: a reject, or no
# answer at all so the NAS fails over to another server.
OnBackendFailure = Literal["reject", "drop"]
ON_BACKEND_FAILURE: tuple[OnBackendFailure, ...] = get_args(OnBackendFailure)


@dataclass(frozen=True, slots=True)
class RadiusConfig:
    """The NAS-facing listener."""

    listen: tuple[HostPort, ...] = (("127.0.0.1", 1812), ("::1", 1812))
    # Accounting-Requests (RFC 2866); by default each listen address with its
    # port + 1 (1812 → 1813, as NASes expect). [] = no accounting listener.
    accounting_listen: tuple[HostPort, ...] = (("127.0.0.1", 1813), ("::1", 1813))
    clients_file: Path = Path("clients.conf")  # FreeRADIUS syntax
    dictionary_file: Path = Path("dictionary")  # FreeRADIUS format
    duplicate_window_s: float = 10.0  # RFC 5080 §2.2.2: resend the cached reply this long
    reject_delay_s: float = 1.0  # delay for rejects radmfa originates (not proxied ones)
    workers: int = 1  # processes sharing the port with SO_REUSEPORT
    max_pending: int = 65536  # in-flight + cached requests per listening socket and process (DUP-6)
    request_timeout_s: float = 30.0  # longest radmfa works on one request before rejecting it
    on_backend_failure: OnBackendFailure = "reject"
    # Fairness (service/fairness.py), per worker process: requests decided at
    # once, and requests one clients.conf entry may have waiting or being
    # decided at once; more from that client are dropped (client_busy).
    max_active: int = 512
    client_max_requests: int = 256
    # RadSec (RADIUS over TLS, RFC 6614; service/radsec.py): off while radsec_listen is empty.
    radsec_listen: tuple[HostPort, ...] = ()
    radsec_cert: Path | None = None  # this server's certificate chain (PEM)
    radsec_key: Path | None = None  # its private key (PEM)
    radsec_max_connections: int = 256  # TLS connections at once, all clients together
    radsec_client_max_connections: int = 16  # per clients.conf entry
    radsec_idle_timeout_s: float = 120.0  # a connection with no packet either way this long is closed


def parse_radius(r: Section) -> RadiusConfig:
    d = RadiusConfig()
    listen = r.host_ports("listen", d.listen, 1812)
    radius = RadiusConfig(
        listen=listen,
        accounting_listen=r.host_ports("accounting_listen", tuple((h, p + 1) for h, p in listen), 1813),
        clients_file=r.path_value("clients_file", d.clients_file),
        dictionary_file=r.path_value("dictionary", d.dictionary_file),
        duplicate_window_s=r.number("duplicate_window_s", d.duplicate_window_s, minimum=1, maximum=30),
        reject_delay_s=r.number("reject_delay_s", d.reject_delay_s, minimum=0, maximum=10),
        workers=r.integer("workers", d.workers, minimum=1, maximum=64),
        max_pending=r.integer("max_pending", d.max_pending, minimum=16, maximum=10_000_000),
        request_timeout_s=r.number("request_timeout_s", d.request_timeout_s, minimum=1, maximum=600),
        on_backend_failure=r.choice("on_backend_failure", d.on_backend_failure, ON_BACKEND_FAILURE),
        max_active=r.integer("max_active", d.max_active, minimum=1, maximum=100_000),
        client_max_requests=r.integer("client_max_requests", d.client_max_requests, minimum=1, maximum=1_000_000),
        radsec_listen=r.host_ports("radsec_listen", d.radsec_listen, RADSEC_PORT),
        radsec_cert=tls_file(r, "radsec_cert"),
        radsec_key=tls_file(r, "radsec_key"),
        radsec_max_connections=r.integer("radsec_max_connections", d.radsec_max_connections,
                                         minimum=1, maximum=100_000),
        radsec_client_max_connections=r.integer("radsec_client_max_connections", d.radsec_client_max_connections,
                                                minimum=1, maximum=100_000),
        radsec_idle_timeout_s=r.number("radsec_idle_timeout_s", d.radsec_idle_timeout_s, minimum=5, maximum=86400),
    )
    if not radius.listen:
        r.fail("listen", "needs at least one address")
    if any(p > 65535 for _, p in radius.accounting_listen):
        r.fail("accounting_listen", "listen has port 65535, so port + 1 is no port: set accounting_listen")
    if radius.radsec_listen:
        for key in ("radsec_cert", "radsec_key"):
            if getattr(radius, key) is None:
                r.fail(key, "radsec_listen needs this server's certificate and key (PEM files)")
        if radius.radsec_idle_timeout_s <= radius.request_timeout_s:
            # A request held for a call or push would lose its connection before its answer.
            r.fail("radsec_idle_timeout_s", "must be longer than request_timeout_s")
    r.done()
    return radius
