"""Debian's Chromium driven by Playwright, screenshots and axe-core.

Playwright's own browser download cannot be had here; its pip package
drives /usr/bin/chromium (installed by scripts/setup.sh). Each test step
is photographed at a phone's and a desktop's size into tests/artifacts/
(ignored by git) and checked with axe-core (from .web-test/, installed by
scripts/setup.sh): a serious or critical violation fails the test.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.fixtures import missing_peer

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE = REPO / ".web-test" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "tests" / "artifacts" / "portal"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        missing_peer(f"{CHROMIUM} is not installed (run `make setup`: Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_peer("the pip package playwright is not installed (run `make setup`)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


class Shots:
    """Screenshots of each step (phone and desktop) and the axe check."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.dir = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.n = 0
        self.violations: list[str] = []

    def step(self, label: str, *, axe: bool = True) -> None:
        self.page.wait_for_load_state("load")
        self.n += 1
        stem = f"{self.n:02d}-{label}"
        size = self.page.viewport_size
        for kind, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            self.page.set_viewport_size(viewport)
            self.page.screenshot(path=str(self.dir / f"{stem}-{kind}.png"), full_page=True)
            # Nothing may push the page sideways: wide tables scroll in their
            # own region, and nothing else is wider than the screen.
            wide = self.page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= viewport["width"], f"{stem}: the page is {wide} px wide on a {viewport['width']} px {kind}"
        self.page.set_viewport_size(size)
        if axe:
            self.accessible(stem)

    def accessible(self, stem: str) -> None:
        """axe-core on the page as it is: no serious or critical violation.
        Injected through the DevTools protocol, which the page's CSP (no
        inline script) does not govern."""
        if not AXE.exists():
            missing_peer(f"{AXE} is missing (run `make setup`: npm axe-core)")
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text())
        result = self.page.evaluate(
            "async () => JSON.stringify((await axe.run(document, {resultTypes: ['violations']})).violations)"
        )
        bad = [v for v in json.loads(result) if v.get("impact") in ("serious", "critical")]
        for v in bad:
            targets = [n.get("target") for n in v.get("nodes", [])][:3]
            self.violations.append(f"{stem}: {v['id']} ({v['impact']}): {v['help']} at {targets}")
        assert not bad, "\n".join(self.violations)


def new_page(browser: Any, *, phone: bool = True, **context: Any) -> Any:
    ctx = browser.new_context(viewport=PHONE if phone else DESKTOP, **context)
    ctx.set_default_timeout(20_000)
    return ctx.new_page()
