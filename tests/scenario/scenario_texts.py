"""Scenario texts and helpers shared by the tests of simulator.scenario's modules."""

from __future__ import annotations

import pytest
from paths import REPO

from simulator.errors import InputError
from simulator.scenario.loader import load_scenario_text

DEMO = REPO / "scenarios" / "lifecycle-demo.yaml"

BASE = """\
name: t
start: "2026-11-21T09:00:00Z"
duration: 90m
server: CN=Mail01/O=Acme
databases:
  mail/alice.nsf: {replica_id: "85258A3B:0052C1F0"}
  apps/orders.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x2306: {charge_read: 0.05}}
users:
  alice: {name: "CN=Alice Smith/O=Acme", address: "10.1.2.3"}
"""
BASE_LINES = BASE.count("\n")


def errors_of(text: str, filename: str = "t.yaml") -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario_text(text, filename)
    return str(caught.value).splitlines()


def script(*items: str) -> str:
    return BASE + "script:\n" + "".join(f"  - {item}\n" for item in items)


def script_line(index: int) -> int:
    return BASE_LINES + 2 + index


CUSTOM = """\
custom_types:
  NOTECREATEREC:
    struct_type: 32001
    class: Database
    fields: [[Username, "char[8]"], [dbNoteID, NOTEID], [ReplicaID, DBID], [Count, WORD],
             [Charge, NUMBER], [When, TIMEDATE], [Doc, UNID], [Orig, OID]]
"""
GOOD_VALUES = (
    "{Username: abcdefg, dbNoteID: 0x20FA, ReplicaID: '85258A3B:0052C1F1', Count: 65535, "
    "Charge: 1.5, When: '2026-11-21T09:00:00.25Z', Doc: 85258A3B0052C1F185258A3B0052C1F2, "
    "Orig: {File: '85258A3B:0052C1F1', Note: '85258A3B:0052C1F2', Sequence: 3, "
    "SequenceTime: '2026-11-21T09:00:00Z'}}"
)


def custom(values: str) -> str:
    return script(f"{{at: 1m, action: custom, type: NOTECREATEREC, values: {values}}}") + CUSTOM
