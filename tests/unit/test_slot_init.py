"""Values built per request are built by model.slot_init's __new__ (a
mutable twin filled, then made an instance of the class): it must build
what the dataclass's own __init__ would, field for field, and the value must
be as frozen, comparable, copyable and picklable as before."""

from __future__ import annotations

import dataclasses

import pytest

from radmfa.core import model

BUILT_FAST = [
    cls for cls in vars(model).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
    and "_twin" in getattr(getattr(cls.__new__, "__func__", cls.__new__), "__globals__", {})
]


def _values(cls):
    return [f"value of {f.name}" for f in dataclasses.fields(cls)]  # distinct, so a swap shows


def test_the_hot_values_are_built_through_their_slots():
    names = {cls.__name__ for cls in BUILT_FAST}
    assert {"AuthRequest", "Decision", "PrimaryResult", "ExemptionView", "CodeClaim", "Session", "User"} <= names


@pytest.mark.parametrize("cls", BUILT_FAST, ids=lambda c: c.__name__)
def test_every_field_positionally_and_by_name(cls):
    values = _values(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    built = cls(*values)
    assert type(built) is cls
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


@pytest.mark.parametrize("cls", BUILT_FAST, ids=lambda c: c.__name__)
def test_built_like_the_dataclass_itself(cls):
    """Equal (and of equal hash) to the value the dataclass's own __init__
    fills through object.__setattr__, as the plain dataclass would build it."""
    values = _values(cls)
    slow = object.__new__(cls)
    for f, v in zip(dataclasses.fields(cls), values, strict=True):
        object.__setattr__(slow, f.name, v)
    built = cls(*values)
    assert built == slow and repr(built) == repr(slow)
    if cls.__hash__ is not None:
        assert hash(built) == hash(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(built, dataclasses.fields(cls)[0].name)  # nor can a field go


@pytest.mark.parametrize("cls", BUILT_FAST, ids=lambda c: c.__name__)
def test_copied_and_pickled_whole(cls):
    import copy
    import pickle

    built = cls(*_values(cls))
    for again in (copy.copy(built), copy.deepcopy(built), pickle.loads(pickle.dumps(built))):  # noqa: S301
        assert type(again) is cls and again == built
