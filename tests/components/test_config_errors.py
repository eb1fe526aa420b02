"""ConfigError: every problem at once, each under its field, readable as one message."""

from typing import Self

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlws.components.errors import ConfigError, Problem, Problems, parse_config


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=1)


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    low: int = 0
    high: int = 10
    items: list[Item] = []

    @model_validator(mode="after")
    def _order(self) -> Self:
        problems = Problems()
        if self.low > self.high:
            problems.add("low", "must not exceed high")
            problems.add("high", "must not be below low")
        problems.raise_if_any()
        return self


def test_field_errors_are_all_reported_with_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            Sample,
            {"low": "x", "items": [{"size": 1}, {"size": 0}], "hgih": 3},
            subject="Sample 's'",
        )
    error = caught.value
    assert error.fields == ("low", "items[1].size", "hgih")
    text = str(error)
    assert text.splitlines()[0] == "invalid Sample 's': 3 problems"
    assert "  - items[1].size: Input should be greater than or equal to 1 (got 0)" in text
    assert "  - hgih: unknown argument (check the spelling)" in text


def test_collected_problems_are_expanded_per_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(Sample, {"low": 5, "high": 1}, subject="Sample", where="config")
    assert caught.value.problems == (
        Problem("config.low", "must not exceed high"),
        Problem("config.high", "must not be below low"),
    )


def test_long_inputs_are_shortened() -> None:
    with pytest.raises(ConfigError, match=r"\(got 'xxxx.*\.\.\.\)") as caught:
        parse_config(Sample, {"low": "x" * 500}, subject="Sample")
    assert len(str(caught.value)) < 200


def test_valid_input_gives_the_model() -> None:
    assert parse_config(Sample, {"low": 1}, subject="Sample").low == 1
    assert parse_config(Sample, None, subject="Sample").high == 10


def test_config_error_is_a_value_error() -> None:
    error = ConfigError("X", [Problem("a", "bad")])
    assert isinstance(error, ValueError)
    assert str(error) == "invalid X: 1 problem\n  - a: bad"


def test_inside_a_pulumi_program_a_config_error_is_a_run_error() -> None:
    """Pulumi prints a RunError as its message alone: a bad setting shows no traceback."""
    import pulumi

    from mlws.components.local_web_service import parse_local_config

    with pytest.raises(ConfigError) as raised:
        parse_local_config("svc", {"image": "x", "cpu_cores": -1})
    assert isinstance(raised.value, pulumi.RunError)
    assert "cpu_cores" in str(raised.value)
