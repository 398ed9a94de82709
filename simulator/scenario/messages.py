"""What a pydantic validation error says to the author of a scenario or a notes.ini file:
"must be a whole number", not pydantic's "Input should be a valid integer"."""

from __future__ import annotations

from typing import Any

from pydantic_core import ErrorDetails

MESSAGES: dict[str, str] = {
    "missing": "required field missing",
    "extra_forbidden": "unknown field",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def error_message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx["error"])
    if kind in MESSAGES:
        return MESSAGES[kind]
    if kind == "greater_than_equal":
        return f"must be ≥ {_bound(ctx['ge'])}"
    if kind == "greater_than":
        return f"must be > {_bound(ctx['gt'])}"
    if kind == "less_than_equal":
        return f"must be ≤ {_bound(ctx['le'])}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} item(s)"
    return str(error["msg"])


def _bound(value: Any) -> Any:
    # A float field's bound reads as the scenario's author would write it: 0, not 0.0.
    return int(value) if isinstance(value, float) and value.is_integer() else value
