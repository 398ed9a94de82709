"""Reconciliation of two bills (simulator/verify/reconcile.py): the REPORT forms read from
text, with file:line: field for what is wrong in them, and the comparison rules of
docs/verification.md (charges within half a cent, the rest exactly, all-zero users the
same as none, seq findings)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from samples import ALICE, BOB

from simulator.domino.server import BILL_FIELDS
from simulator.errors import InputError
from simulator.verify.reconcile import (
    FieldDifference,
    SeqFindings,
    read_bill,
    reconcile,
)


def totals(**values: Any) -> dict[str, Any]:
    """A user's bill: the given fields (any JSON value, to test bad ones), every other
    field zero."""
    out: dict[str, Any] = {name: 0 for name in BILL_FIELDS}
    out["charges"] = 0.0
    out.update(values)
    return out


BILL = {
    ALICE: totals(sessions=1, bytes_in=1700, bytes_out=3400, charges=0.05, mail=1, mail_bytes=9),
    BOB: totals(sessions=2, web=3, web_bytes=100),
}
HEADER = "user," + ",".join(BILL_FIELDS)


def csv_text(bill: dict[str, dict[str, int | float]]) -> str:
    rows = [HEADER]
    for user, values in bill.items():
        rows.append(",".join([f'"{user}"', *(str(values[name]) for name in BILL_FIELDS)]))
    return "\n".join(rows) + "\n"


# -- reading -------------------------------------------------------------------------------


def test_json_and_csv_reports_read_as_the_same_bill() -> None:
    summary = json.dumps({"scenario": "x", "records": 12, "users": BILL}, indent=2)
    assert read_bill(summary, "s.json") == BILL
    assert read_bill(csv_text(BILL), "r.csv") == BILL


def test_csv_columns_in_any_order_and_a_float_whole_number() -> None:
    columns = list(reversed(BILL_FIELDS))
    values = {**totals(sessions=4, charges=1.25), "bytes_in": "12.0"}
    text = (
        "user,"
        + ",".join(columns)
        + "\n"
        + f"{ALICE},"
        + ",".join(str(values[name]) for name in columns)
    )
    bill = read_bill(text, "r.csv")
    assert bill[ALICE]["sessions"] == 4 and bill[ALICE]["bytes_in"] == 12
    assert isinstance(bill[ALICE]["bytes_in"], int)
    assert list(bill[ALICE]) == list(BILL_FIELDS)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "r.csv:1: empty"),
        (
            "name,sessions\n",
            'r.csv:1: not a REPORT: JSON starts with {, CSV with a header that starts with "user" '
            "(this starts with 'name,sessions')",
        ),
        (HEADER + ",tip\n", "r.csv:1: tip: unknown bill field"),
        (HEADER.replace(",web_bytes", "") + "\n", "r.csv:1: web_bytes: missing from the header"),
        (HEADER + f"\n{ALICE},1\n", "r.csv:2: 2 cells, the header has 15"),
        (csv_text(BILL).replace(",1700,", ",17x,"), "r.csv:2: bytes_in: a whole number"),
        (csv_text(BILL).replace(",1700,", ",-1,"), "r.csv:2: bytes_in: a whole number"),
        (csv_text(BILL).replace(",0.05,", ",five,"), "r.csv:2: charges: a number of at least 0"),
        (csv_text(BILL) + "\n" + csv_text(BILL).splitlines()[1], "r.csv:5: 'CN=Alice"),
        (HEADER + '\n"CN=Open/O=Quote,1\n', "r.csv:2: not CSV"),
        # Past 308 digits no float holds it (OverflowError), past 4,300 no int() reads it.
        (
            csv_text(BILL).replace(",1700,", f",{'9' * 400},"),
            "r.csv:2: bytes_in: a whole number of 400 digits: too large",
        ),
        (
            csv_text(BILL).replace(",0.05,", f",{'9' * 400},"),
            "r.csv:2: charges: a whole number of 400 digits: too large",
        ),
        (
            csv_text(BILL).replace(",1700,", f",{'9' * 5000},"),
            "r.csv:2: bytes_in: a whole number of 5,000 digits: too large",
        ),
        (csv_text(BILL).replace(",1700,", f",x{'9' * 5000},"), "r.csv:2: bytes_in: a whole"),
    ],
)
def test_a_bad_csv_report_names_file_line_and_field(text: str, where: str) -> None:
    with pytest.raises(InputError) as caught:
        read_bill(text, "r.csv")
    assert str(caught.value).startswith(where), str(caught.value)
    assert len(str(caught.value)) < 200  # a cell of thousands of characters is cut short


def summary_text(users: object) -> str:
    return json.dumps({"scenario": "x", "users": users}, indent=2)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"users": {\n  "a": {\n', "r.json:3: not JSON"),
        ('{"records": 1}', "r.json:1: users: no"),
        (summary_text({ALICE: 7}), f"r.json:4: users.{ALICE}: not an object"),
        (
            summary_text({ALICE: {**totals(), "tips": 1}}),
            f"r.json:19: users.{ALICE}.tips: unknown bill field",
        ),
        (
            summary_text({ALICE: {k: v for k, v in totals().items() if k != "agents"}}),
            f"r.json:4: users.{ALICE}.agents: missing",
        ),
        (
            summary_text({BOB: totals(), ALICE: totals(web="3")}),
            f'r.json:33: users.{ALICE}.web: a whole number of at least 0, not "3"',
        ),
        (
            summary_text({ALICE: totals(mail=1.5)}),
            f"r.json:11: users.{ALICE}.mail: a whole number",
        ),
        (
            summary_text({ALICE: totals(agents=True)}),
            f"r.json:15: users.{ALICE}.agents: a whole number of at least 0, not true",
        ),
        (
            summary_text({ALICE: totals(sessions=int("9" * 400))}),
            f"r.json:5: users.{ALICE}.sessions: a whole number of 400 digits: too large",
        ),
        (
            summary_text({ALICE: totals(charges=int("9" * 400))}),
            f"r.json:9: users.{ALICE}.charges: a whole number of 400 digits: too large",
        ),
        (
            summary_text({ALICE: totals()}).replace('"sessions": 0', f'"sessions": {"9" * 5001}'),
            f"r.json:5: users.{ALICE}.sessions: a whole number of 5,001 digits: too large",
        ),
        # json keeps the last of a key given twice: a bill would lose a user or a total.
        (
            summary_text({ALICE: totals()}).replace(
                '"sessions": 0,', '"sessions": 0, "sessions": 5,'
            ),
            f"r.json: users.{ALICE}.sessions: a key twice in one object",
        ),
        (
            f'{{"users": {{"U": {json.dumps(totals())}, "U": {json.dumps(totals())}}}}}',
            "r.json: users.U: a key twice in one object",
        ),
    ],
)
def test_a_bad_json_report_names_file_line_and_field(text: str, where: str) -> None:
    with pytest.raises(InputError) as caught:
        read_bill(text, "r.json")
    assert str(caught.value).startswith(where), str(caught.value)


# -- comparing -----------------------------------------------------------------------------


def test_equal_bills_reconcile() -> None:
    result = reconcile(BILL, read_bill(csv_text(BILL), "r.csv"))
    assert result.equal
    assert (result.users, result.differences) == (2, ())


def test_each_differing_field_is_named_with_expected_actual_and_difference() -> None:
    actual = {ALICE: {**BILL[ALICE], "bytes_in": 1600, "mail": 2}, BOB: BILL[BOB]}
    result = reconcile(BILL, actual)
    assert not result.equal
    assert result.differences == (
        FieldDifference(ALICE, "bytes_in", 1700, 1600),
        FieldDifference(ALICE, "mail", 1, 2),
    )
    assert [d.difference for d in result.differences] == [-100, 1]


@pytest.mark.parametrize(
    ("actual", "equal"),
    [(0.05, True), (0.054, True), (0.046, True), (0.055, True), (0.0551, False), (0.0449, False)],
)
def test_charges_are_equal_within_half_a_cent(actual: float, equal: bool) -> None:
    result = reconcile(BILL, {**BILL, ALICE: {**BILL[ALICE], "charges": actual}})
    assert result.equal is equal
    if not equal:
        (difference,) = result.differences
        assert difference.field == "charges"
        assert difference.difference == pytest.approx(actual - 0.05)


def test_users_on_one_side_only_are_missing_unless_they_bill_nothing() -> None:
    idle = "CN=Idle/O=Acme"
    extra = "CN=Extra/O=Acme"
    expected = {**BILL, idle: totals()}
    actual = {ALICE: BILL[ALICE], extra: totals(web=1)}
    result = reconcile(expected, actual)
    assert result.missing_from_actual == (BOB,)
    assert result.missing_from_expected == (extra,)
    assert {(d.user, d.field, d.expected, d.actual) for d in result.differences} == {
        (BOB, "sessions", 2, 0),
        (BOB, "web", 3, 0),
        (BOB, "web_bytes", 100, 0),
        (extra, "web", 0, 1),
    }
    assert result.users == 4  # idle is compared, and equal to nothing


def test_seq_findings_make_bills_different_even_when_the_totals_agree() -> None:
    stored = {1: 1, 2: 1, 4: 2, 5: 1, 7: 3}
    findings = SeqFindings.of("Mail01", "3f9c1a2b4d5e", 7, stored)
    assert (findings.missing, findings.duplicated) == ((3, 6), (4, 7))
    result = reconcile(BILL, BILL, [findings])
    assert not result.equal and not result.differences
    clean = SeqFindings.of("Mail01", "3f9c1a2b4d5e", 3, {1: 1, 2: 1, 3: 1})
    assert clean.clean and reconcile(BILL, BILL, [clean]).equal
