"""Plain-text tables: names left, numbers right, every cell whole."""

from simulator.commands.columns import aligned


def test_names_left_numbers_right_and_nothing_cut() -> None:
    rows = [("user", "field", "expected"), ("CN=Bob Jones/O=Acme", "charges", "0.05"),
            ("A", "web_bytes", "123456789")]  # fmt: skip
    assert aligned(rows, left=2) == [
        "user                 field       expected",
        "CN=Bob Jones/O=Acme  charges         0.05",
        "A                    web_bytes  123456789",
    ]
    assert aligned([("a", "b"), ("long name", "1")]) == ["a          b", "long name  1"]
