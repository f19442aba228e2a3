"""The listener builds its request and audit values through their slots:
the same values as their constructors, field for field."""

from __future__ import annotations

import dataclasses

import pytest

from radmfa.core.model import AuditRecord, AuthRequest
from radmfa.service import radius


def _values(cls):
    return [f"value of {f.name}" for f in dataclasses.fields(cls)]  # distinct, so a swap shows


@pytest.mark.parametrize(("cls", "build"), [(AuditRecord, radius._audit_record), (AuthRequest, radius._auth_request)])
def test_slot_builders_match_the_constructors(cls, build):
    values = _values(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    built = build(*values)
    assert type(built) is cls
    assert built == cls(**dict(zip(names, values, strict=True)))
    assert [getattr(built, n) for n in names] == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.request_id = "other"
    with pytest.raises(ValueError):
        build(*values[:-1])  # every field, or nothing built
