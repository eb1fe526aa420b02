"""The seed's R accident model (examples/r-accident): trained from the real data, then scored.

Predictions are checked against an independent computation: Python evaluates the logistic model from
the coefficients R exported, building the design row itself from the CSV's factor levels.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlws.runtime.entry_script import ScoreRequest
from mlws.runtime.r_script import REntryScript, RScriptError
from mlws.runtime.settings import RuntimeSettings
from tests.runtime.r_support import (
    DATA,
    EXAMPLE,
    FACTORS,
    R_MISSING,
    SEED_RECORD,
    csv_levels,
    exported_coefficients,
    logistic_percent,
)

OTHER_RECORDS: list[dict[str, object]] = [
    {
        "dvcat": "55+",
        "seatbelt": "belted",
        "frontal": "notfrontal",
        "sex": "m",
        "ageOFocc": 80,
        "yearVeh": 1990,
        "airbag": "airbag",
        "occRole": "driver",
    },
    {
        "dvcat": "1-9km/h",
        "seatbelt": "belted",
        "frontal": "frontal",
        "sex": "m",
        "ageOFocc": 45,
        "yearVeh": 1998,
        "airbag": "none",
        "occRole": "driver",
    },
]

pytestmark = [
    pytest.mark.needs_r,
    pytest.mark.skipif(R_MISSING is not None, reason=R_MISSING or ""),
]


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DATA.is_file():
        pytest.skip(f"the seed's data {DATA} is not there (a sibling shared/ folder of the repo)")
    model_dir = tmp_path_factory.mktemp("accident-model")
    run = subprocess.run(
        ["Rscript", str(EXAMPLE / "train.R"), str(DATA), str(model_dir / "model.rds")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "trained on" in run.stderr
    return model_dir


@pytest.fixture(scope="module")
def pool(trained_model: Path) -> Iterator[REntryScript]:
    settings = RuntimeSettings(
        entry_script=Path("score.R"),
        source_directory=EXAMPLE / "scoring",
        model_dir=trained_model,
    )
    script = REntryScript(settings)
    script.init()
    yield script
    script.close()


def test_factor_levels_are_the_csvs(trained_model: Path) -> None:
    assert csv_levels() == {name: set(levels) for name, levels in FACTORS.items()}


def test_model_has_the_seeds_terms(trained_model: Path) -> None:
    coefficients = exported_coefficients(trained_model / "model.rds")
    assert set(coefficients) == {
        "(Intercept)",
        "dvcat10-24",
        "dvcat25-39",
        "dvcat40-54",
        "dvcat55+",
        "seatbeltnone",
        "frontalfrontal",
        "sexm",
        "ageOFocc",
        "yearVeh",
        "airbagnone",
        "occRolepass",
    }
    assert (trained_model / "model.rds").stat().st_size < 500_000


def test_served_predictions_match_an_independent_logistic_computation(
    trained_model: Path, pool: REntryScript
) -> None:
    coefficients = exported_coefficients(trained_model / "model.rds")
    records = [SEED_RECORD, *OTHER_RECORDS]
    result = pool.score(ScoreRequest(body=json.dumps(records).encode()))
    served = json.loads(result.body)
    expected = [logistic_percent(coefficients, r) for r in records]
    assert len(served) == len(expected)
    for got, want in zip(served, expected, strict=True):
        # The seed's toJSON() keeps 4 decimal places.
        assert got == pytest.approx(want, abs=5.1e-5)
    # Belted, frontal, airbag, slow: safer than unbelted at 10-24 km/h, which is safer than 55+.
    assert served[2] < served[0] < served[1]


def test_committed_model_predicts_like_a_fresh_training(trained_model: Path) -> None:
    committed = EXAMPLE / "model" / "model.rds"
    assert committed.is_file(), "examples/r-accident/model/model.rds should be committed"
    assert committed.stat().st_size < 500_000
    fresh = exported_coefficients(trained_model / "model.rds")
    shipped = exported_coefficients(committed)
    assert shipped.keys() == fresh.keys()
    for name, value in fresh.items():
        assert shipped[name] == pytest.approx(value, rel=1e-9)


def test_bad_record_is_an_r_error_naming_the_column(pool: REntryScript) -> None:
    with pytest.raises(RScriptError, match="seatbelt"):
        pool.score(ScoreRequest(body=b'[{"dvcat": "10-24"}]'))
