"""A private PostgreSQL server that a test may stop and start again.

The machine's shared server (127.0.0.1:5432) serves everyone's tests and must
never be restarted. This one is initdb'd into a temp dir and listens on a
free port and a private socket directory. PostgreSQL refuses to run as root,
so under root (as the tests run here) initdb and pg_ctl run as the
``postgres`` user, who owns the directory.

``pg_ctl -w`` returns when the server accepts connections (start) or is gone
(stop): what the tests wait on, with generous limits for a busy machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from tests.peers.ports import free_tcp_port

START_TIMEOUT_S = 120  # initdb and start-up on a busy 2-core machine
STOP_TIMEOUT_S = 60
RUN_AS = "postgres"


class PostgresServerError(RuntimeError):
    """The private server could not be created, started or stopped; the message has its log."""


def find_bindir() -> Path | None:
    """Debian's /usr/lib/postgresql/<version>/bin, newest version first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]), reverse=True)
    return Path(found[0]).parent if found else None


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.directory = Path(tempfile.mkdtemp(prefix="radmfa-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = free_tcp_port()
        self._user = _run_as_user()
        if self._user is not None:
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)
        self.directory.chmod(0o700)

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        async def create() -> None:
            conn = await asyncpg.connect(self.url, timeout=START_TIMEOUT_S)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        loop = asyncio.new_event_loop()  # never the thread's current loop (see postgres.run)
        try:
            loop.run_until_complete(create())
        finally:
            loop.close()
        return self.database_url(name)

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _run(self, *argv: str, timeout: float) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._user is not None:
            command = ["runuser", "-u", self._user.pw_name, "--", *command]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,  # noqa: S603
                                  cwd=self.directory)
        except subprocess.TimeoutExpired as e:
            raise PostgresServerError(f"{argv[0]} did not finish within {timeout} s\n{self.log_tail()}") from e
        if done.returncode != 0:
            raise PostgresServerError(
                f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}\n{self.log_tail()}")

    def init(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync", timeout=START_TIMEOUT_S)
        return self

    def start(self) -> PostgresServer:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} "
                   "-c fsync=off -c max_connections=60 -c shared_buffers=16MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", str(START_TIMEOUT_S), "start", timeout=START_TIMEOUT_S + 10)
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast`` is what a service restart does: sessions are cut, the server shuts down cleanly."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(STOP_TIMEOUT_S), "stop",
                  timeout=STOP_TIMEOUT_S + 10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "--- PostgreSQL log\n" + "\n".join(text.splitlines()[-lines:])

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(PostgresServerError):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def _run_as_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: ``postgres`` under root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        raise PostgresServerError(f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as") from None
