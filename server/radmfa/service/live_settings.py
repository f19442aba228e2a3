"""The store's settings (config/stored.py) in a running process.

``reconcile`` runs once at start-up: a moved key still in radmfa.toml is
imported into the store the first time (logged, with a warning to delete
it from the file); a file value that disagrees with the store stops the
start with the commands that resolve it. ``LiveSettings`` then polls the
store's settings version every ``POLL_S`` seconds and hands the new
``MfaConfig`` to whoever uses it (the pipeline, the portals): a change on
any node reaches every process within seconds, without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from radmfa.config import Config, MfaConfig
from radmfa.config import stored as st
from radmfa.core.admin_ports import SettingsStore
from radmfa.errors import ConfigError

log = structlog.get_logger("radmfa.settings")
POLL_S = 2.0
FILE_ACTOR = "radmfa.toml"  # the admin log's actor of a value imported from the file


async def reconcile(store: SettingsStore, config: Config) -> None:
    """Import the moved keys radmfa.toml still gives; refuse a file that disagrees with the store."""
    for name in config.moved_keys:
        setting = st.SETTINGS[name]
        mine = st.to_json(setting, st.file_value(config.mfa, setting))
        held = await store.import_setting(name, mine, actor=FILE_ACTOR, now=datetime.now(UTC))
        where = f"{config.path.name}: [{setting.section}] {setting.key}"
        if held == mine:
            log.warning("setting moved to the store", setting=name,
                        detail=f"{where}: the value is in the store now (changed with `radmfa settings set "
                               f"{name}` or the management portal); delete the key from the file")
            continue
        try:
            shown = st.show(setting, st.from_json(setting, held)).replace("\n", ", ")
        except (st.SettingError, ValueError):
            shown = held
        raise ConfigError(
            f"{where}: this setting is kept in the store, which holds {shown!r}: delete the key from the file "
            f"(and change the value with `radmfa settings set {name} VALUE`), or make the file's value the "
            f"store's with `radmfa settings import`"
        )


async def current_mfa(store: SettingsStore, config: Config) -> MfaConfig:
    """``config.mfa`` with the store's values (for one-shot commands)."""
    _version, raw = await store.stored_settings()
    values, _problems = st.decode(raw)
    return st.apply(config.mfa, values)


class LiveSettings:
    def __init__(self, store: SettingsStore, config: Config) -> None:
        self.store, self.base = store, config.mfa
        self.mfa = config.mfa
        self.version = -1
        self._users: list[Callable[[MfaConfig], None]] = []
        self._problems: frozenset[str] = frozenset()

    def subscribe(self, use: Callable[[MfaConfig], None]) -> None:
        """``use`` gets the settings now and after each change."""
        self._users.append(use)
        use(self.mfa)

    async def refresh(self) -> bool:
        """Reload when the store's version moved; True when it did."""
        if await self.store.settings_version() == self.version:
            return False
        version, raw = await self.store.stored_settings()
        values, problems = st.decode(raw)
        for problem in set(problems) - self._problems:
            log.warning("stored setting ignored", problem=problem)
        self._problems = frozenset(problems)
        mfa = st.apply(self.base, values)
        changed = self.version >= 0 and mfa != self.mfa
        self.version, self.mfa = version, mfa
        for use in self._users:
            use(mfa)
        if changed:
            log.info("settings changed", version=version, **_shown(values))
        return True

    async def run(self, interval: float = POLL_S) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception as e:  # the store is down: keep the last settings, try again
                log.warning("settings poll failed", error=str(e)[:200])


def _shown(values: dict[str, Any]) -> dict[str, str]:
    return {name.replace(".", "_"): st.show(st.SETTINGS[name], v).replace("\n", ",")[:200]
            for name, v in values.items()}
