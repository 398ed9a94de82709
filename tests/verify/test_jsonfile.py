"""The JSON that verify and report read (simulator/verify/jsonfile.py): a key twice in
one object, a whole number too long for any figure and a nest too deep for json are bad
input naming the file and the field, never the last value kept or a traceback."""

from __future__ import annotations

import pytest

from simulator.errors import InputError
from simulator.verify.jsonfile import MAX_DIGITS, load_json

LONG = "9" * (MAX_DIGITS + 1)


def refusal(text: str) -> InputError:
    with pytest.raises(InputError) as raised:
        load_json(text, "s.json")
    return raised.value


def test_a_document_billsim_writes_reads_as_json_does() -> None:
    text = '{"users": {"U": {"sessions": 1, "charges": 0.5}}, "faults": [{"seq": [3]}]}'
    assert load_json(text, "s.json") == {
        "users": {"U": {"sessions": 1, "charges": 0.5}},
        "faults": [{"seq": [3]}],
    }
    assert load_json(f'{{"records": {"9" * MAX_DIGITS}}}', "s.json") == {
        "records": int("9" * MAX_DIGITS)
    }


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"users": {"U": {"sessions": 1}, "U": {"sessions": 5}}}', "users.U"),
        ('{"users": {"U": {"sessions": 1, "sessions": 5}}}', "users.U.sessions"),
        ('{"rejects": 0, "rejects": 1}', "rejects"),
        ('{"faults": [{"seq": 1}, {"seq": 2, "seq": 3}]}', "faults[1].seq"),
    ],
)
def test_a_key_twice_in_one_object_is_refused_naming_it(text: str, field: str) -> None:
    error = refusal(text)
    assert (error.file, error.field) == ("s.json", field)
    assert "a key twice" in error.message


@pytest.mark.parametrize(
    ("text", "line", "field", "digits"),
    [
        (f'{{"users": {{\n  "U": {{\n    "sessions": {LONG}}}}}}}', 3, "users.U.sessions", 39),
        (f'{{"latency_ms": {{"p99": -{"9" * 400}, "max": 1}}}}', 1, "latency_ms.p99", 400),
        # Past 4,300 digits Python's int() itself refuses, with a ValueError.
        (f'{{"a": "{LONG}",\n"seq": [1, {"9" * 5001}]}}', 2, "seq[1]", 5001),
    ],
)
def test_a_whole_number_too_long_is_refused_at_its_line_and_field(
    text: str, line: int, field: str, digits: int
) -> None:
    error = refusal(text)
    assert (error.file, error.line, error.field) == ("s.json", line, field)
    assert error.message.startswith(f"a whole number of {digits:,} digits: too large")


def test_a_nest_too_deep_and_text_that_is_not_json_are_refused() -> None:
    assert "nested too deep" in refusal('{"a": ' * 100_000).message
    error = refusal('{\n"a": 1,\n}')
    assert (error.line, error.message.startswith("not JSON")) == (3, True)
