"""The service runs on uvloop when it imports and on asyncio's loop when not."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest

from radmfa.service.run import loop_policy


@pytest.fixture
def restore_policy() -> Iterator[None]:
    yield
    asyncio.set_event_loop_policy(None)


def _loop_module() -> str:
    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__.partition(".")[0]

    return asyncio.run(which())


def test_uvloop_is_installed_with_the_package() -> None:
    import importlib.metadata

    requires = importlib.metadata.requires("radmfa") or []
    assert any(r.startswith("uvloop") and "extra ==" not in r for r in requires), requires


def test_uvloop_is_chosen_when_it_imports(restore_policy: None) -> None:
    pytest.importorskip("uvloop")
    assert loop_policy() == "uvloop"
    assert _loop_module() == "uvloop"


def test_asyncio_is_the_fallback_without_uvloop(restore_policy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert loop_policy() == "asyncio"
    assert _loop_module() == "asyncio"
