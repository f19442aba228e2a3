"""``[store]``: where radmfa keeps its data and the key that seals token seeds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radmfa.config.reader import Section


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = "sqlite:///radmfa.db"
    key_file: Path = Path("radmfa.key")


def parse_store(s: Section) -> tuple[StoreConfig, int | None]:
    """The store, and the deprecated ``audit_retention_days`` if given (now
    [audit] keep_days)."""
    d = StoreConfig()
    store = StoreConfig(
        url=s.get("url", str, d.url),
        key_file=s.path_value("key_file", d.key_file),
    )
    old_retention = None
    if "audit_retention_days" in s.data:
        old_retention = s.integer("audit_retention_days", 0, minimum=1, maximum=36500)
    if not store.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        s.fail("url", "must start with sqlite:/// or postgresql://")
    s.done()
    return store, old_retention
