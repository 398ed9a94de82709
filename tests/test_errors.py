"""What an error message quotes of the input: short, whatever the input."""

from __future__ import annotations

import time

from simulator.errors import InputError, printable, quoted


def test_a_long_text_is_quoted_by_its_ends() -> None:
    text = quoted("x" * 1_000_000 + "END")
    assert len(text) <= 90 and text.startswith("'xxx") and text.endswith("END'")


def test_a_nested_value_is_quoted_by_its_first_items() -> None:
    value: list[object] = ["lol"] * 9
    for _ in range(9):
        value = [value] * 9  # 9^10 values if written out whole
    started = time.monotonic()
    text = quoted(value)
    assert len(text) < 200 and time.monotonic() - started < 0.1


def test_a_number_too_long_for_repr_is_described() -> None:
    assert quoted(10**5000) == "<a whole number of 16610 bits>"
    assert quoted(12345) == "12345"


def test_dict_and_list_subclasses_are_quoted_short_too() -> None:
    class Lined(dict[str, object]):
        pass

    assert len(quoted(Lined({str(n): "y" * 500 for n in range(100)}))) < 800


def test_an_input_error_names_file_line_and_field() -> None:
    error = InputError("bad", file="f.yaml", line=3, field="seed")
    assert str(error) == "f.yaml:3: seed: bad" and error.exit_code == 2


def test_an_error_is_one_line_whatever_the_input_holds() -> None:
    """Found by the fuzzer: a user name with newlines, quoted whole in a dry-run error,
    printed 78 lines for 2 problems. Control characters are escaped as JSON does."""
    error = InputError("logout of CN=Bob\n\n\x07Jones/O=Acme", file="f.yaml", line=3, field="x\ty")
    assert str(error) == "f.yaml:3: x\\ty: logout of CN=Bob\\n\\n\\u0007Jones/O=Acme"
    assert printable("CN=\udcffnn é") == "CN=\\udcffnn é"
