"""The in-memory login store (tests/fakes/ports.py) is a LoginStore: every
method the request path may await, with the port's parameters, so a test
that drives the pipeline on it cannot pass on a method the real store lacks
or calls differently."""

from __future__ import annotations

import inspect

from radmfa.core import ports
from tests.fakes.ports import FakeLoginStore


def port_methods() -> dict[str, inspect.Signature]:
    methods: dict[str, inspect.Signature] = {}
    for cls in ports.LoginStore.__mro__:
        if cls.__module__ != ports.__name__:
            continue
        for name, member in vars(cls).items():
            if inspect.iscoroutinefunction(member):
                methods.setdefault(name, inspect.signature(member))
    return methods


def test_the_fake_has_every_login_store_method_with_its_parameters():
    methods = port_methods()
    assert {"login_view", "take_session_view", "consume_bypass", "hold_oob", "count_send"} <= methods.keys()
    for name, wanted in methods.items():
        fake = getattr(FakeLoginStore, name, None)
        assert fake is not None and inspect.iscoroutinefunction(fake), name
        got = inspect.signature(fake)
        assert [(p.name, p.kind) for p in got.parameters.values()] == [
            (p.name, p.kind) for p in wanted.parameters.values()
        ], name
