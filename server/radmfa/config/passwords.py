"""``[passwords]``: the passwords radmfa checks itself (``[upstream] type =
"local"`` and app passwords): argon2id cost, how many checks run at once,
and how many failed attempts one user or one client may spend before radmfa
stops hashing for them."""

from __future__ import annotations

from dataclasses import dataclass

from radmfa.config.reader import Section

MIN_MEMORY_KIB = 8 * 1024  # below this argon2id stops being memory-hard in any useful sense
MAX_MEMORY_KIB = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PasswordsConfig:
    """argon2id parameters (RFC 9106 §3.1 names), the verification pool and the attempt budgets."""

    # Local passwords: 2 passes over 19 MiB, 1 lane (OWASP's argon2id setting,
    # RFC 9106 §4's "choose t, m, p to fit the time you can spend"): ≈ 22 ms
    # of one core here, against ≈ 214 ms for RFC 9106's low-memory profile
    # (3 passes over 64 MiB, 4 lanes), which an authentication server cannot
    # afford per login. docs/operator-guide.md has the measurements.
    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1
    # App passwords carry 80 random bits: guessing one offline is infeasible
    # at any hash speed, so they may be made cheaper still.
    app_time_cost: int = 2
    app_memory_kib: int = 19 * 1024
    app_parallelism: int = 1
    threads: int = 0  # verifications at once per process; 0 = one per core
    queue: int = 32  # verifications waiting for a thread; beyond that a check is refused at once
    client_share: int = 16  # places (hashing or waiting) one client may hold; 0 = all of them
    user_attempts: int = 10  # failed (or unfinished) checks per user per window; 0 = no budget
    client_attempts: int = 60  # failed (or unfinished) checks per client per window; 0 = no budget
    window_s: int = 60


def parse_passwords(p: Section) -> PasswordsConfig:
    d = PasswordsConfig()
    cfg = PasswordsConfig(
        time_cost=p.integer("time_cost", d.time_cost, minimum=1, maximum=20),
        memory_kib=p.integer("memory_kib", d.memory_kib, minimum=MIN_MEMORY_KIB, maximum=MAX_MEMORY_KIB),
        parallelism=p.integer("parallelism", d.parallelism, minimum=1, maximum=16),
        app_time_cost=p.integer("app_time_cost", d.app_time_cost, minimum=1, maximum=20),
        app_memory_kib=p.integer("app_memory_kib", d.app_memory_kib, minimum=MIN_MEMORY_KIB, maximum=MAX_MEMORY_KIB),
        app_parallelism=p.integer("app_parallelism", d.app_parallelism, minimum=1, maximum=16),
        threads=p.integer("threads", d.threads, minimum=0, maximum=64),
        queue=p.integer("queue", d.queue, minimum=0, maximum=10_000),
        client_share=p.integer("client_share", d.client_share, minimum=0, maximum=10_000),
        user_attempts=p.integer("user_attempts", d.user_attempts, minimum=0, maximum=1_000_000),
        client_attempts=p.integer("client_attempts", d.client_attempts, minimum=0, maximum=1_000_000),
        window_s=p.integer("window_s", d.window_s, minimum=1, maximum=86_400),
    )
    p.done()
    return cfg
