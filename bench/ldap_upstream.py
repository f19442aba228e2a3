"""The ``ldap`` scenario: logins with the directory as the upstream.

The figures users see in production come from radmfa in front of a
directory, not only the embedded FreeRADIUS "ack" upstream: this starts the
test slapd with the first ``LDAP_USERS`` benchmark users (same password), a
second radmfa on the benchmark's store with ``[upstream] type = "ldap"``
(search-then-bind over StartTLS, the default pool), and measures inline
logins (``password,code``; one directory check each):

* ``ldap_logins_per_s``: closed loop, as fast as radmfa and slapd answer;
* ``ldap_login_p50_ms`` / ``ldap_login_p99_ms``: open loop at
  ``LDAP_LATENCY_RATE`` logins/s, latency per login.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.peers.ports import free_udp_port
from tests.peers.slapd import BASE_DN, SERVICE_DN, SERVICE_PW, LdapPerson, Slapd

from bench import loadgen
from bench.loadgen import Job
from bench.measure import percentile
from bench.stack import NAS_SECRET, REPO, Radmfa
from bench.users import PASSWORD, Population, ensure_users

if TYPE_CHECKING:
    from bench.scenarios import Bench

LDAP_USERS = 5_000  # quick: 2,000 (slapadd loads them; the test launcher gives it 30 s)
LDAP_LATENCY_RATE = 100.0


@dataclass
class LdapRadmfa(Radmfa):
    """radmfa with the directory as its upstream (same store, clients and logging as the others)."""

    slapd: Slapd | None = None

    def write_config(self) -> None:
        assert self.slapd is not None
        self.config_path.write_text(
            f"""[radius]
listen = ["127.0.0.1:{self.port}"]
accounting_listen = []
clients_file = "clients.conf"
dictionary = "{REPO / 'dictionary'}"
reject_delay_s = 0
workers = {self.workers}

[upstream]
type = "ldap"
servers = ["{self.slapd.url}"]
start_tls = true
ca_file = "{self.slapd.pki.ca_file}"
bind_dn = "{SERVICE_DN}"
bind_password = "{SERVICE_PW}"
base_dn = "{BASE_DN}"

[store]
url = "sqlite:///radmfa.db"
key_file = "radmfa.key"

[log]
level = "{self.log_level}"
format = "json"
"""
        )


def _population(b: Bench, size: int) -> Population:
    """The first ``size`` users of the benchmark's population, sharing its
    record of who logged in during which TOTP step (the replay guard is the store's)."""
    view = Population.__new__(Population)
    view.size = min(size, b.population.size)
    view.last_step = b.population.last_step
    view.cursor = b.population.cursor
    return view


def ldap(b: Bench) -> None:
    s = b.settings
    users = 2_000 if s.quick else LDAP_USERS
    people = [LdapPerson(f"u{i}", PASSWORD.decode()) for i in range(min(users, s.users))]
    slapd = Slapd(people, binary="/usr/sbin/slapd")
    node = LdapRadmfa(b.workdir, "radmfa-ldap", free_udp_port(), ("127.0.0.1", 0), s.workers, slapd=slapd)
    population = _population(b, len(people))
    try:
        slapd.start()
        node.start()
        pids = {"radmfa": node.pid, "slapd": slapd.proc.pid if slapd.proc else None}
        closed = Job("inline", node.address, NAS_SECRET.encode(), processes=s.processes,
                     duration_s=s.storm_s, window=s.window)
        ensure_users(population, 2000.0, closed.duration_s + closed.warmup_s)
        meter = b.meter(pids)
        out = loadgen.run(closed, population)
        shares = meter.shares()
        paced = Job("inline", node.address, NAS_SECRET.encode(), processes=1, duration_s=s.latency_s,
                    warmup_s=0.5, rate=LDAP_LATENCY_RATE, record_latency=True)
        ensure_users(population, LDAP_LATENCY_RATE, paced.duration_s + paced.warmup_s)
        timed = loadgen.run(paced, population)
    finally:
        node.stop()
        slapd.stop()
    b.results["ldap_logins_per_s"] = round(out.rate, 1)
    b.results["ldap_login_p50_ms"] = round(percentile(timed.latencies_ms, 50), 3)
    b.results["ldap_login_p99_ms"] = round(percentile(timed.latencies_ms, 99), 3)
    b.details["ldap"] = {
        "directory_users": len(people), "upstream": "slapd, search-then-bind over StartTLS",
        "closed_loop": _brief(out, shares), "paced_per_s": LDAP_LATENCY_RATE, "paced": _brief(timed, {}),
    }


def _brief(out: loadgen.Outcome, shares: dict[str, Any]) -> dict[str, Any]:
    keys = ("logins", "started", "rejected", "lost", "bad", "stalled_s", "measured_s")
    return {"per_s": round(out.rate, 1), **{k: getattr(out, k) for k in keys}, **shares}
