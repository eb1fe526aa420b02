"""``mlws invoke --records`` against the seed's own R accident model (examples/r-accident), served
by ``mlws serve`` with R: the table must reach ``predict()`` exactly as
``invoke_webservice(service, toJSON(newdata))`` sent it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.cli_helpers import DATA, Served, run_cli, start_server, stop_server

EXAMPLE = Path(__file__).parents[2] / "examples" / "r-accident"


def _r_missing() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript is not installed"
    probe = subprocess.run(
        ["Rscript", "-e", "library(jsonlite)"], capture_output=True, check=False, timeout=60
    )
    if probe.returncode != 0:
        return "the R package jsonlite is not installed"
    if not (EXAMPLE / "model" / "model.rds").is_file():
        return "examples/r-accident has no trained model"
    return None


R_MISSING = _r_missing()

pytestmark = [
    pytest.mark.needs_r,
    pytest.mark.slow,
    pytest.mark.skipif(R_MISSING is not None, reason=R_MISSING or ""),
]


@pytest.fixture(scope="module")
def r_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_server(
        tmp_path_factory.mktemp("r-serve"),
        {"MLWS_AUTH_MODE": "none"},
        [
            str(EXAMPLE / "scoring"),
            "--entry-script",
            "score.R",
            "--model-dir",
            str(EXAMPLE / "model"),
        ],
    )
    yield served
    stop_server(served)


def test_records_from_csv_score_like_the_seeds_json(r_service: Served) -> None:
    by_records = run_cli("invoke", r_service.url, "--records", str(DATA / "accident.csv"))
    assert by_records.exit_code == 0, by_records.stderr
    probabilities = json.loads(by_records.stdout)
    # the seed's newdata row: 0.6711 % (examples/r-accident/README.md)
    assert probabilities[0] == pytest.approx(0.6711, abs=1e-4)
    assert 0 < probabilities[1] < 100
    rows = json.loads((DATA / "accident.json").read_text())
    records = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    by_data = run_cli("invoke", r_service.url, "--data", json.dumps(records))
    assert json.loads(by_data.stdout) == probabilities
    by_columns = run_cli("invoke", r_service.url, "--records", str(DATA / "accident.json"))
    assert json.loads(by_columns.stdout) == probabilities
