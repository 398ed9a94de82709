"""What a scenario's author reads for each kind of pydantic validation error."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simulator.scenario.messages import error_message


class _Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    count: Annotated[int, Field(ge=0, le=10)] = 0
    share: Annotated[float, Field(gt=0.5)] = 1.0
    kind: Literal["a", "b"] = "a"
    items: Annotated[list[int], Field(min_length=1, max_length=2)] = [1]
    name: str = "x"
    flag: Annotated[bool, Field(strict=False)] = False

    @field_validator("name")
    @classmethod
    def _no_z(cls, value: str) -> str:
        if "z" in value:
            raise ValueError("must not contain a z")
        return value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"count": "1"}, "must be a whole number"),
        ({"count": -1}, "must be ≥ 0"),
        ({"count": 11}, "must be ≤ 10"),
        ({"share": 0.5}, "must be > 0.5"),
        ({"kind": "c"}, "must be 'a' or 'b'"),
        ({"items": []}, "must have at least 1 item(s)"),
        ({"items": [1, 2, 3]}, "must have at most 2 item(s)"),
        ({"items": "1"}, "must be a list"),
        ({"name": 3}, "must be text"),
        ({"flag": 2}, "must be true or false"),
        ({"flag": "maybe"}, "must be true or false"),
        ({"name": "zed"}, "must not contain a z"),
        ({"other": 1}, "unknown field"),
    ],
)
def test_each_error_reads_as_the_author_would_write_it(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        _Sample.model_validate(data)
    [error] = info.value.errors()
    assert error_message(error) == message


def test_a_float_bound_that_is_whole_reads_without_its_point() -> None:
    class Bounded(BaseModel):
        value: Annotated[float, Field(ge=2.0)]

    with pytest.raises(ValidationError) as info:
        Bounded.model_validate({"value": 1})
    assert error_message(info.value.errors()[0]) == "must be ≥ 2"
