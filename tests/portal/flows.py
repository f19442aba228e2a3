"""Steps a person takes in the portal, shared by the browser tests."""

from __future__ import annotations

import re
from typing import Any

from tests.integration.harness import NAS_SECRET, Radmfa
from tests.portal.browser import Shots
from tests.portal.env import Portal


def submit(page: Any, label: str | None = None) -> None:
    """Press the main form's button (the footer's language form has one too)."""
    if label is None:
        page.locator("main form button[type=submit]").first.click()
    else:
        page.get_by_role("button", name=label, exact=True).click()


def sign_in(page: Any, portal: Portal, shots: Shots | None, name: str = "alice",
            password: str = "alice-pw", *, path: str = "/signin") -> None:  # noqa: S107 (the test user's)
    page.goto(portal.url + path)
    if shots is not None:
        shots.step("signin")
    page.fill("#name", name)
    page.fill("#password", password)
    submit(page)
    page.wait_for_load_state("load")


def expect_path(page: Any, path: str, timeout: float = 30_000) -> None:
    page.wait_for_url(re.compile(re.escape(path) + r"(\?.*|#.*)?$"), timeout=timeout)


def choose_kind(page: Any, kind: str, shots: Shots) -> None:
    expect_path(page, "/enroll")
    shots.step("contact-method")
    page.check(f"#k-{kind}")
    submit(page)
    expect_path(page, "/enroll/details")


def enter_phone(page: Any, shots: Shots, country: str, number: str, mode: str | None = None) -> None:
    page.select_option("#country", country)
    page.fill("#number", number)
    if mode is not None:
        page.check(f"#mode-{mode}")
    shots.step("phone-number")
    submit(page)


def menu_key(menu: str, label: str) -> str:
    """The key of ``label`` ("text to", "call •••0987", "push") in a RADIUS menu."""
    for key, text in re.findall(r"(\d+) = ([^,]+)", menu):
        if text.strip().startswith(label):
            return str(key)
    raise AssertionError(f"{label!r} not in menu {menu!r}")


def radius_login(radclient: Any, server: Radmfa, user: str, password: str, *, state: str | None = None,
                 timeout: float = 25, station: str | None = None) -> Any:
    packet = {"User-Name": user, "User-Password": password}
    if station is not None:
        packet["Calling-Station-Id"] = station
    if state is not None:
        packet["State"] = state
    return radclient(server.address, NAS_SECRET, [packet], timeout=timeout, retries=1)[0]


def last_code(messages: list[dict[str, str]]) -> str:
    found = re.search(r"\b(\d{6})\b", messages[-1]["Body"])
    assert found is not None, messages[-1]
    return found.group(1)
