"""`radmfa settings` and `radmfa admin`, in process, on SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from radmfa import config
from radmfa.core.admin_ports import Store
from radmfa.errors import ConfigError
from radmfa.service.live_settings import LiveSettings, reconcile
from radmfa.store import open_store
from tests.cli.conftest import MINIMAL_CONFIG, Radmfa, assert_one_line_error


def admin_actions(radmfa: Radmfa) -> list[tuple[str, str, str]]:
    async def work(store: Store) -> list[tuple[str, str, str]]:
        return [(e.action, e.target, e.detail) for e in await store.query_admin_events()]

    return radmfa.store(work)


def test_settings_set_get_list_unset_are_logged(radmfa: Radmfa) -> None:
    assert radmfa("settings", "get", "mfa.lockout_failures").out == "5\n"  # the default
    done = radmfa("settings", "set", "mfa.lockout_failures", "3")
    assert done.status == 0 and "(default) → 3" in done.out
    assert radmfa("settings", "get", "mfa.lockout_failures").out == "3\n"
    listed = radmfa("settings", "list", "--format", "csv").out
    assert "mfa.lockout_failures,3,store" in listed and "mfa.new_user,enroll,default" in listed
    assert radmfa("settings", "set", "mfa.trusted_networks", "10.0.0.0/8,", "192.0.2.0/24").status == 0
    assert radmfa("settings", "get", "mfa.trusted_networks").out == "10.0.0.0/8\n192.0.2.0/24\n"
    assert radmfa("settings", "unset", "mfa.lockout_failures").status == 0
    assert radmfa("settings", "get", "mfa.lockout_failures").out == "5\n"
    assert admin_actions(radmfa) == [
        ("setting.set", "mfa.lockout_failures", "(default) → 3"),
        ("setting.set", "mfa.trusted_networks", '(default) → ["10.0.0.0/8", "192.0.2.0/24"]'),
        ("setting.set", "mfa.lockout_failures", "3 → (default)"),
    ]


@pytest.mark.parametrize(("name", "value", "words"), [
    ("mfa.lockout_failures", "-1", "whole number from 0 to 1000"),
    ("mfa.new_user", "maybe", "one of allow, enroll, deny"),
    ("mfa.trusted_networks", "10.1.2.3/8", "network 1"),
    ("mfa.app_passwords", "perhaps", "true or false"),
])
def test_settings_set_refuses_bad_values_and_changes_nothing(
    radmfa: Radmfa, name: str, value: str, words: str
) -> None:
    line = assert_one_line_error(radmfa("settings", "set", name, value), status=2)
    assert name in line and words in line
    assert admin_actions(radmfa) == []


def test_unknown_setting_is_a_usage_error(radmfa: Radmfa) -> None:
    assert radmfa("settings", "set", "radius.listen", "x").status == 2


def test_admin_add_list_set_role_remove(radmfa: Radmfa) -> None:
    line = assert_one_line_error(radmfa("admin", "add", "ghost", "--role", "admin"))
    assert "does not exist" in line
    assert radmfa("user", "add", "hd").status == 0
    assert radmfa("admin", "add", "hd", "--role", "helpdesk").status == 0
    assert "administrator already" in assert_one_line_error(radmfa("admin", "add", "HD", "--role", "admin"))
    assert "hd,helpdesk" in radmfa("admin", "list", "--format", "csv").out
    assert radmfa("admin", "set-role", "hd", "auditor").status == 0
    assert "hd,auditor" in radmfa("admin", "list", "--format", "csv").out
    assert radmfa("admin", "set-role", "hd", "superuser").status == 2
    assert radmfa("admin", "remove", "hd").status == 0
    assert "no administrators" in radmfa("admin", "list").out
    assert "no administrator" in assert_one_line_error(radmfa("admin", "remove", "hd"))
    assert [a for a in admin_actions(radmfa) if a[0].startswith("admin.")] == [
        ("admin.add", "hd", "role=helpdesk"), ("admin.set-role", "hd", "helpdesk → auditor"),
        ("admin.remove", "hd", "role=auditor"),
    ]


def _reconcile(path: Path) -> None:
    cfg = config.load(path)

    async def work() -> None:
        store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
        try:
            await reconcile(store, cfg)
        finally:
            await store.close()

    asyncio.run(work())


def test_moved_key_in_the_file_is_imported_once_then_a_disagreeing_file_is_refused(
    radmfa: Radmfa, config_path: Path
) -> None:
    config_path.write_text(MINIMAL_CONFIG + "\n[mfa]\nlockout_failures = 7\n")
    _reconcile(config_path)  # imported
    assert radmfa("settings", "get", "mfa.lockout_failures").out == "7\n"
    assert ("setting.import", "mfa.lockout_failures", "(default) → 7") in admin_actions(radmfa)
    _reconcile(config_path)  # the same value: starts (with a warning)
    assert radmfa("settings", "set", "mfa.lockout_failures", "2").status == 0
    with pytest.raises(ConfigError, match=r"radmfa.toml: \[mfa\] lockout_failures: this setting is kept in the "
                                          r"store, which holds '2'.*radmfa settings import"):
        _reconcile(config_path)
    assert radmfa("settings", "import").status == 0  # the file's value wins, logged
    assert radmfa("settings", "get", "mfa.lockout_failures").out == "7\n"
    _reconcile(config_path)


def test_live_settings_follow_the_store(radmfa: Radmfa, config_path: Path) -> None:
    cfg = config.load(config_path)
    seen: list[int] = []

    async def work() -> None:
        store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
        try:
            live = LiveSettings(store, cfg)
            live.subscribe(lambda mfa: seen.append(mfa.lockout_failures))
            assert await live.refresh() is True
            assert await live.refresh() is False  # nothing moved
            await store.put_setting("mfa.lockout_failures", "9", actor="t", now=datetime.now(UTC))
            assert await live.refresh() is True
        finally:
            await store.close()

    asyncio.run(work())
    assert seen == [5, 5, 9]
