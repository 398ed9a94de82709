"""The names a custom record type and its fields may take, so that `billsim header` compiles."""

from __future__ import annotations

import re

import pytest
from paths import REPO

from simulator.wire.cnames import BILLMSG_H_NAMES, field_name_problem, type_name_problem

QUEUE_DIR = REPO / "queue"


def test_the_reserved_names_are_billmsg_hs() -> None:
    text = (QUEUE_DIR / "billmsg.h").read_text()
    declared = set(re.findall(r"^#define ([A-Za-z_][A-Za-z0-9_]*)", text, re.M))
    declared |= set(re.findall(r"^\} ([A-Za-z_][A-Za-z0-9_]*);", text, re.M))
    declared |= set(re.findall(r"^typedef [A-Za-z_0-9]+ ([A-Za-z_][A-Za-z0-9_]*);", text, re.M))
    # billmsg.h's own BILLSIM_ macros are covered by the reserved BILLSIM_ prefix.
    assert {name for name in declared if not name.startswith("BILLSIM_")} == BILLMSG_H_NAMES


@pytest.mark.parametrize(
    ("name", "fine"),
    [
        ("NOTECREATEREC", True),
        ("dbNoteID", True),
        ("Username", True),
        ("struct", False),
        ("class", False),
        ("bool", False),
        ("TIMEDATE", False),
        ("MQ_MAX_MSGSIZE", False),
        ("uint32_t", False),
        ("UINT16_MAX", False),
        ("NULL", False),
        ("size_t", False),
        ("_Private", False),
        ("__x", False),
        ("_lower", True),
        ("BILLSIM_X", False),
    ],
)
def test_c_name_rules(name: str, fine: bool) -> None:
    assert (type_name_problem(name) is None) is fine
    assert (field_name_problem(name, ["NOTECREATEREC"]) is None) is fine


def test_type_names_whose_macro_clashes_and_fields_named_like_a_types_macro() -> None:
    assert type_name_problem("MAILREC") is not None
    assert type_name_problem("CLASS_SESSION") == (
        "its struct type macro BILL_CLASS_SESSION is already defined by billmsg.h"
    )
    assert field_name_problem("BILL_NOTECREATEREC", ["NOTECREATEREC"]) is not None
    assert field_name_problem("BILL_NOTECREATEREC", ["OTHER"]) is None
