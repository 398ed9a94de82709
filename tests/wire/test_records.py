"""The record kinds: billing.h's struct types and classes, their C fields against their
Python values, and what a custom kind may be."""

from __future__ import annotations

import pytest

from simulator.wire import constants as c
from simulator.wire.layout import DWORD
from simulator.wire.records import BUILTIN_KINDS, CustomRec, custom_kind


def test_each_builtin_kind_has_its_own_struct_type_name_and_a_class_with_a_topic() -> None:
    assert len({kind.struct_type for kind in BUILTIN_KINDS}) == len(BUILTIN_KINDS)
    assert len({kind.name for kind in BUILTIN_KINDS}) == len(BUILTIN_KINDS)
    assert len({kind.bill_class for kind in BUILTIN_KINDS}) == len(BUILTIN_KINDS)
    for kind in BUILTIN_KINDS:
        assert kind.bill_class in c.CLASS_TOPIC_NAME, kind.name
        assert kind.struct_type < c.CUSTOM_STRUCT_TYPE_MIN, kind.name


def test_a_kinds_c_fields_that_are_not_derived_lead_its_python_value_in_order() -> None:
    """The codec takes a record's fixed part from its first fields, in C order; the
    derived ones (lengths, offsets, counts) come from the variable data that follows."""
    for kind in BUILTIN_KINDS:
        fixed = [name for name, _ctype in kind.fields if name not in kind.derived]
        assert list(kind.python_type.__annotations__)[: len(fixed)] == fixed, kind.name
        assert set(kind.derived) <= {name for name, _ctype in kind.fields}, kind.name


@pytest.mark.parametrize("struct_type", [c.CUSTOM_STRUCT_TYPE_MIN, c.CUSTOM_STRUCT_TYPE_MAX])
def test_a_custom_kind_takes_the_custom_struct_types(struct_type: int) -> None:
    kind = custom_kind("NOTECREATEREC", struct_type, c.BILL_CLASS_DATABASE, (("n", DWORD),))
    assert (kind.struct_type, kind.python_type, kind.derived) == (struct_type, CustomRec, ())


@pytest.mark.parametrize(
    "struct_type", [c.BILL_SESSIONREC, c.CUSTOM_STRUCT_TYPE_MIN - 1, c.CUSTOM_STRUCT_TYPE_MAX + 1]
)
def test_a_custom_kind_refuses_any_other_struct_type(struct_type: int) -> None:
    with pytest.raises(ValueError, match=f"custom struct types are .*, not {struct_type}"):
        custom_kind("X", struct_type, c.BILL_CLASS_DATABASE, (("n", DWORD),))
