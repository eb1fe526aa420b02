"""The R model's baselines: its R workers alone (the ceiling) and R's own plumber server."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from benchmarks import r_alone
from benchmarks.models import BenchModel
from benchmarks.procs import running
from benchmarks.systems import launch

SCORE_R = """
library(jsonlite)
init <- function() {
  factor <- as.numeric(readLines(file.path(Sys.getenv("AZUREML_MODEL_DIR"), "factor.txt")))
  function(data) toJSON(fromJSON(data) * factor)
}
"""


def _r_missing(package: str) -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (scripts/test installs r-base-core from Debian)"
    probe = subprocess.run(["Rscript", "-e", f"library({package})"], capture_output=True)
    if probe.returncode != 0:
        return f"the R package {package} is missing (scripts/test installs it from Debian)"
    return None


@pytest.fixture
def model(tmp_path: Path) -> BenchModel:
    source, model_dir = tmp_path / "src", tmp_path / "model"
    source.mkdir()
    model_dir.mkdir()
    (source / "score.R").write_text(SCORE_R)
    (model_dir / "factor.txt").write_text("3\n")
    return BenchModel(
        name="r-tiny",
        language="r",
        model_dir=model_dir,
        source_dir=source,
        entry_script="score.R",
        body=b"[1.5, 2]",
        expected=[4.5, 6.0],
    )


@pytest.mark.skipif(bool(_r_missing("jsonlite")), reason=str(_r_missing("jsonlite")))
def test_r_alone_times_one_process_per_busy_worker(model: BenchModel, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(model.body)
    rows, measured = r_alone.rows(model, [1, 16], workers=2, calls=50, body_file=body)
    assert [m.processes for m in measured] == [1, 2]
    assert [(r.system, r.concurrency) for r in rows] == [("r-alone", 1), ("r-alone", 16)]
    single, pair = measured
    assert single.seconds_per_call > 0
    assert single.rps == pytest.approx(1 / single.seconds_per_call)
    # Two processes' calls per second add up, each from its own timing.
    assert pair.rps > 1 / pair.seconds_per_call
    assert rows[0].p99_ms == pytest.approx(single.seconds_per_call * 1000, rel=1e-3)


@pytest.mark.skipif(bool(_r_missing("jsonlite")), reason=str(_r_missing("jsonlite")))
def test_r_alone_reports_the_scripts_error(model: BenchModel, tmp_path: Path) -> None:
    (model.source_dir / "score.R").write_text("init <- function() stop('no model here')\n")
    body = tmp_path / "body.json"
    body.write_bytes(model.body)
    with pytest.raises(r_alone.RCostError, match="no model here"):
        r_alone.measure(model, 1, 10, body)


@pytest.mark.skipif(bool(_r_missing("plumber")), reason=str(_r_missing("plumber")))
def test_plumber_serves_the_entry_scripts_answer(model: BenchModel, tmp_path: Path) -> None:
    spec = launch("plumber", model, tmp_path, lambda _: None)
    with running(spec.server):
        request = urllib.request.Request(
            spec.url,
            data=model.body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            answer = json.loads(response.read())
    assert answer == model.expected
    spec.check(json.dumps(answer).encode(), model.expected)
