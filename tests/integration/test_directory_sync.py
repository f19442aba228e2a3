"""`radmfa sync` against a real slapd: creates, updates, blocks leavers, holds back mass removals."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from radmfa.cli.main import main
from radmfa.cli.runner import run_with_store
from radmfa.config import load
from radmfa.core.model import NewUser, UserState
from radmfa.directory.sync import LEFT_REASON, scheduled_sync
from radmfa.store import open_store
from tests.peers.fixtures import require_binary
from tests.peers.slapd import ALICE, BASE_DN, BOB, SERVICE_DN, SERVICE_PW, LdapPerson, Slapd

pytestmark = pytest.mark.integration

CAROL = LdapPerson("carol", "carol-pw", "Carol", "Danvers", "carol@example.org", "+15550003", language="de")
TEAM = [LdapPerson(f"temp{n}", "pw", "Temp", str(n)) for n in range(6)]


@pytest.fixture
def directory() -> Iterator[Slapd]:
    """A slapd of its own: these tests change the directory."""
    server = Slapd([ALICE, BOB, CAROL, *TEAM], binary=require_binary("slapd"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def config_path(tmp_path: Path, directory: Slapd) -> Path:
    path = tmp_path / "radmfa.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///radmfa.db"\n\n[upstream]\ntype = "ldap"\nservers = ["{directory.ldaps_url}"]\n'
        f'ca_file = "{directory.pki.ca_file}"\nbind_dn = "{SERVICE_DN}"\nbind_password = "{SERVICE_PW}"\n'
        f'base_dn = "{BASE_DN}"\n\n[sync]\nfilter = "(objectClass=inetOrgPerson)"\nmax_removals = 5\n'
        f"page_size = 3\n"  # several pages for nine people
    )
    return path


def sync(config_path: Path, capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["sync", *argv, "--config", str(config_path)])
    out = capsys.readouterr()
    return status, out.out, out.err


def users(config_path: Path) -> dict[str, object]:
    return {u.name: u for u in run_with_store(load(config_path), lambda s: s.list_users())}


def test_sync_creates_updates_blocks_and_holds_back(config_path, directory, capsys):
    run_with_store(load(config_path), lambda s: s.add_user(NewUser("bob", mobile="+1999")))  # hand-made
    status, out, _ = sync(config_path, capsys, "--dry-run")
    assert status == 0 and "create alice" in out and "create carol" in out
    assert "skipped 'bob': added by an administrator" in out
    assert "dry run, nothing changed: 8 to create, 0 to update, 0 to block" in out
    assert set(users(config_path)) == {"bob"}

    status, out, _ = sync(config_path, capsys)
    assert status == 0 and "8 created, 0 updated, 0 blocked" in out
    found = users(config_path)
    alice = found["alice"]
    assert (alice.first_name, alice.last_name, alice.email, alice.mobile, alice.office_phone, alice.language) == (
        "Alice", "Liddell", "alice@example.org", "+15550001", "+15551001", "en"
    )
    assert found["bob"].mobile == "+1999"  # never touched

    directory.modify(f"dn: {CAROL.dn}\nchangetype: modify\nreplace: mobile\nmobile: +15559999\n")
    directory.delete(ALICE.dn)
    status, out, _ = sync(config_path, capsys)
    assert status == 0 and "update carol: mobile" in out and "block alice (left the directory)" in out
    found = users(config_path)
    assert found["carol"].mobile == "+15559999"
    assert (found["alice"].state, found["alice"].blocked_reason) == (UserState.BLOCKED, LEFT_REASON)

    # Six more leave at once: above max_removals = 5, nobody is blocked.
    for person in TEAM:
        directory.delete(person.dn)
    status, out, err = sync(config_path, capsys)
    assert status == 3 and "held back: block temp0" in out
    assert "more than [sync] max_removals = 5: none was blocked" in err and "--confirm-removals" in err
    assert all(users(config_path)[p.uid].state is UserState.ENABLED for p in TEAM)
    assert "--confirm-removals 6" in err
    # The count confirms the plan the admin saw, not whatever it is now.
    status, out, err = sync(config_path, capsys, "--confirm-removals", "5")
    assert status == 3 and "you confirmed 5 but 6 users left the directory now" in err
    assert all(users(config_path)[p.uid].state is UserState.ENABLED for p in TEAM)
    status, out, _ = sync(config_path, capsys, "--confirm-removals", "6")
    assert status == 0 and "6 blocked" in out
    assert all(users(config_path)[p.uid].state is UserState.BLOCKED for p in TEAM)

    # Alice comes back: unblocked.
    directory.add_person(ALICE)
    status, out, _ = sync(config_path, capsys)
    assert status == 0 and "update alice:" in out
    assert users(config_path)["alice"].state is UserState.ENABLED

    events = run_with_store(load(config_path), lambda s: s.query_admin_events())
    assert [e.action for e in events].count("directory.sync") == 6
    assert all(SERVICE_PW not in e.detail for e in events)


def test_directory_down_changes_nothing(config_path, directory, capsys):
    sync(config_path, capsys)
    before = users(config_path)
    directory.halt()
    status, _, err = sync(config_path, capsys)
    assert status == 1 and "no LDAP server answered" in err and "nothing was changed" in err
    assert users(config_path).keys() == before.keys()
    assert all(u.state is UserState.ENABLED for u in users(config_path).values())


def test_scheduled_sync_runs_once_per_period(config_path, tmp_path):
    cfg = load(config_path)

    async def run() -> list[bool]:
        stores = [await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
                  for _ in range(2)]
        try:
            cfg2 = dataclasses.replace(cfg, sync=dataclasses.replace(cfg.sync, every_minutes=60))
            now = datetime.now(UTC)
            plans = await asyncio.gather(*(scheduled_sync(cfg2, s, now=now) for s in stores))
            return [p is not None for p in plans]
        finally:
            for s in stores:
                await s.close()

    assert sorted(asyncio.run(run())) == [False, True]
    assert len(users(config_path)) == 9
