"""`radmfa settings list|get|set|unset|import`: the settings kept in the
store (config/stored.py), shared by every node and picked up by running
processes within seconds. Each change is in the admin log (who, when,
old → new). The management portal's settings page calls the same
``change``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from radmfa.cli import adminlog
from radmfa.cli.output import add_format_option, write_rows
from radmfa.cli.parsing import UsageError
from radmfa.cli.runner import run_with_store
from radmfa.config import Config
from radmfa.config import stored as st
from radmfa.core.admin_ports import AdminStore, SettingsStore

COLUMNS = ("setting", "value", "source", "meaning")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("settings", help="settings kept in the store, shared by every node")
    cmds = group.add_subparsers(title="settings commands", metavar="COMMAND", required=True)

    p = cmds.add_parser("list", help="every setting kept in the store, with its value")
    add_format_option(p)
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("get", help="one setting's value")
    p.add_argument("name", metavar="NAME", choices=list(st.SETTINGS), help=", ".join(st.SETTINGS))
    p.set_defaults(func=cmd_get)

    p = cmds.add_parser("set", help="change a setting on every node (within seconds, no restart)")
    p.add_argument("name", metavar="NAME", choices=list(st.SETTINGS), help=", ".join(st.SETTINGS))
    p.add_argument("value", metavar="VALUE", nargs="+",
                   help="the value; networks: several, separated by spaces or commas")
    p.set_defaults(func=cmd_set)

    p = cmds.add_parser("unset", help="back to the default value")
    p.add_argument("name", metavar="NAME", choices=list(st.SETTINGS), help=", ".join(st.SETTINGS))
    p.set_defaults(func=cmd_unset)

    p = cmds.add_parser("import", help="make the values radmfa.toml still gives for moved keys the store's")
    p.set_defaults(func=cmd_import)


async def current(store: SettingsStore, cfg: Config) -> list[tuple[st.StoredSetting, Any, str]]:
    """Each setting, its value and where the value comes from (store or default)."""
    _version, raw = await store.stored_settings()
    values, _problems = st.decode(raw)
    defaults = type(cfg.mfa)()
    return [
        (s, values[name], "store") if name in values else (s, st.file_value(defaults, s), "default")
        for name, s in st.SETTINGS.items()
    ]


async def change(store: SettingsStore, name: str, text: str | None, *, by: str) -> tuple[str, str]:
    """Set (None: unset) one setting as ``by``; (before, after) as shown.
    Raises SettingError for a value the setting cannot take (nothing changes)."""
    setting = st.lookup(name)
    new = None if text is None else st.to_json(setting, st.parse_text(setting, text))
    old = await store.put_setting(name, new, actor=by, now=datetime.now(UTC))
    return _shown(setting, old), _shown(setting, new)


def _shown(setting: st.StoredSetting, value: str | None) -> str:
    if value is None:
        return "(default)"
    return st.show(setting, st.from_json(setting, value)).replace("\n", " ")


def cmd_list(args: argparse.Namespace, cfg: Config) -> int:
    rows = run_with_store(cfg, lambda store: current(store, cfg))
    out = [(s.name, st.show(s, v).replace("\n", " "), source, s.help) for s, v, source in rows]
    write_rows(COLUMNS, out, args.format, sys.stdout)
    return 0


def cmd_get(args: argparse.Namespace, cfg: Config) -> int:
    rows = run_with_store(cfg, lambda store: current(store, cfg))
    setting, value, _source = next(r for r in rows if r[0].name == args.name)
    print(st.show(setting, value))
    return 0


def _set(cfg: Config, name: str, text: str | None) -> int:
    async def work(store: AdminStore) -> tuple[str, str]:
        return await change(store, name, text, by=adminlog.actor())

    try:
        before, after = run_with_store(cfg, work)
    except st.SettingError as e:
        raise UsageError(str(e)) from None
    if before == after:
        print(f"{name} is {after} already; nothing changed")
    else:
        print(f"{name}: {before} → {after} (every node within seconds)")
    return 0


def cmd_set(args: argparse.Namespace, cfg: Config) -> int:
    return _set(cfg, args.name, " ".join(args.value))


def cmd_unset(args: argparse.Namespace, cfg: Config) -> int:
    return _set(cfg, args.name, None)


def cmd_import(args: argparse.Namespace, cfg: Config) -> int:
    if not cfg.moved_keys:
        print(f"{cfg.path.name} gives none of the settings kept in the store; nothing to import")
        return 0

    async def work(store: AdminStore) -> list[tuple[str, str, str]]:
        done = []
        for name in cfg.moved_keys:
            setting = st.SETTINGS[name]
            text = st.show(setting, st.file_value(cfg.mfa, setting))
            before, after = await change(store, name, text, by=adminlog.actor())
            done.append((name, before, after))
        return done

    for name, before, after in run_with_store(cfg, work):
        print(f"{name}: {before} → {after}")
    print(f"now delete these keys from {cfg.path.name}: the store holds them")
    return 0
