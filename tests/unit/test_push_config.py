"""[clients.<name>] push_number_matching, [limits] push_deny_streak and
push_deny_window_s, and the start-up warning for clients without matching."""

from __future__ import annotations

import pytest

from radmfa.config import ClientPolicy, load
from radmfa.config.clients import number_matching_warning
from radmfa.errors import ConfigError
from tests.unit.test_phone_config import HTTP, write

PUSH = '[providers.push]\ntype = "ntfy"\n[mfa]\npush_provider = "push"\n'


def test_number_matching_is_off_when_absent_and_set_per_client(tmp_path):
    clients = '[clients.vpn]\npush_number_matching = true\n[clients.rdg]\nmode = "oob"\n'
    cfg = load(write(tmp_path, HTTP + PUSH + clients))
    assert cfg.clients["vpn"].push_number_matching is True
    assert cfg.clients["rdg"].push_number_matching is False and ClientPolicy().push_number_matching is False
    with pytest.raises(ConfigError, match=r"\[clients.vpn\] push_number_matching"):
        load(write(tmp_path, '[clients.vpn]\npush_number_matching = "yes"\n'))


def test_the_deny_streak_keys(tmp_path):
    cfg = load(write(tmp_path, ""))
    assert (cfg.limits.push_deny_streak, cfg.limits.push_deny_window_s) == (5, 3600)
    cfg = load(write(tmp_path, "[limits]\npush_deny_streak = 0\npush_deny_window_s = 60\n"))
    assert (cfg.limits.push_deny_streak, cfg.limits.push_deny_window_s) == (0, 60)
    with pytest.raises(ConfigError, match=r"\[limits\] push_deny_window_s"):
        load(write(tmp_path, "[limits]\npush_deny_window_s = 59\n"))
    with pytest.raises(ConfigError, match=r"\[limits\] push_deny_streak"):
        load(write(tmp_path, "[limits]\npush_deny_streak = -1\n"))


def test_start_up_names_every_client_that_pushes_without_matching(tmp_path):
    cfg = load(write(tmp_path, HTTP + PUSH + '[clients.vpn]\npush_number_matching = true\n'))
    policies = {"vpn": cfg.clients["vpn"]}
    warning = number_matching_warning(["vpn", "rdg", "lab"], policies, cfg.phone)
    assert warning is not None and warning.startswith("push without number matching for lab, rdg:")
    assert number_matching_warning(["vpn"], policies, cfg.phone) is None
    no_push = load(write(tmp_path, ""))
    assert number_matching_warning(["rdg"], {}, no_push.phone) is None  # no pushes, nothing to warn about
