"""`radmfa serve` with [portal] embedded = true serves the portal too."""

from __future__ import annotations

import pytest

from tests.integration.phone_env import add_user
from tests.integration.test_foundation import upstream_cfg
from tests.portal.browser import new_page
from tests.portal.env import make_stack
from tests.portal.flows import expect_path, radius_login, sign_in

pytestmark = pytest.mark.integration


def test_portal_inside_serve(radmfa_factory, peers, freeradius_upstream, chromium, radclient) -> None:  # noqa: ANN001
    server, portal = make_stack(radmfa_factory, peers, upstream=upstream_cfg(freeradius_upstream.address),
                                portal_extra="embedded = true\n")
    add_user(server, "alice", None, push_enrolled=False)
    with server:
        # The RADIUS side names the portal to a user who must enroll.
        rejected = radius_login(radclient, server, "alice", "alice-pw")
        assert rejected.code == "Access-Reject"
        assert f"Set one up at {portal.url}/" in (rejected.get("Reply-Message") or "")
        page = new_page(chromium)
        sign_in(page, portal, None)  # no `radmfa portal` process: serve answers
        expect_path(page, "/enroll")
        assert page.locator("#k-mobile").count() == 1
