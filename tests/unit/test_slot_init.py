"""Values built per request get a slot-filling __init__ (model.slot_init):
it must build what the dataclass's own __init__ would, field for field."""

from __future__ import annotations

import dataclasses

import pytest

from radmfa.core import model

BUILT_FAST = [
    cls for cls in vars(model).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and "_set0" in getattr(cls.__init__, "__globals__", {})
]


def _values(cls):
    return [f"value of {f.name}" for f in dataclasses.fields(cls)]  # distinct, so a swap shows


def test_the_hot_values_are_built_through_their_slots():
    names = {cls.__name__ for cls in BUILT_FAST}
    assert {"AuthRequest", "Decision", "PrimaryResult", "ExemptionView"} <= names


@pytest.mark.parametrize("cls", BUILT_FAST, ids=lambda c: c.__name__)
def test_every_field_positionally_and_by_name(cls):
    values = _values(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    built = cls(*values)
    assert [getattr(built, n) for n in names] == values
    assert cls(**dict(zip(names, values, strict=True))) == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, names[0], "other")
    with pytest.raises(TypeError):
        cls(*values, "one too many")


@pytest.mark.parametrize("cls", BUILT_FAST, ids=lambda c: c.__name__)
def test_defaults_and_fresh_default_factories(cls):
    required = [f for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    built, other = cls(*_values(cls)[: len(required)]), cls(*_values(cls)[: len(required)])
    for f in dataclasses.fields(cls)[len(required):]:
        if f.default is not dataclasses.MISSING:
            assert getattr(built, f.name) == f.default
        else:
            assert getattr(built, f.name) == f.default_factory()
            assert getattr(built, f.name) is not getattr(other, f.name)  # never one shared mutable default
    with pytest.raises(TypeError):
        cls(*_values(cls)[: len(required) - 1]) if required else cls(unknown=1)


def test_replace_still_works():
    decision = model.Decision(model.Verdict.ACCEPT, "ok")
    assert dataclasses.replace(decision, reason="other") == model.Decision(model.Verdict.ACCEPT, "other")
