"""The benchmark's models: trained here from bundled data, each with a request and its answer.

- ``ridge``: scikit-learn's diabetes Ridge regression (tiny; per-call overhead dominates).
- ``gbr``: a 200-tree gradient boosting regressor on the same data (heavier predict).
- ``r-accident``: the seed's R glm on NASS CDS crash data, trained by examples/r-accident/train.R.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parent.parent
ENTRY_DIR = Path(__file__).resolve().parent / "entry"
R_EXAMPLE = REPO / "examples" / "r-accident"
NASS_CSV_CANDIDATES = (
    REPO.parent / "shared" / "data" / "nassCDS.csv",
    REPO / "shared" / "data" / "nassCDS.csv",
)

#: One crash record, as in shared/data/README.md.
R_RECORD: dict[str, Any] = {
    "dvcat": "10-24",
    "seatbelt": "none",
    "frontal": "frontal",
    "sex": "f",
    "ageOFocc": 22,
    "yearVeh": 2002,
    "airbag": "none",
    "occRole": "pass",
}

MODEL_NAMES = ("ridge", "gbr", "r-accident")


class ModelUnavailable(RuntimeError):
    """A model cannot be prepared on this machine (the message says why); its runs are skipped."""


@dataclass(frozen=True)
class BenchModel:
    """A trained model, its entry script and one scoring request with the answer to expect."""

    name: str
    language: Literal["python", "r"]
    model_dir: Path
    """``AZUREML_MODEL_DIR`` for the servers."""
    source_dir: Path
    entry_script: str
    """File name inside ``source_dir``."""
    body: bytes
    """The ``POST /score`` body."""
    expected: list[float]
    """What ``run`` answers for ``body``."""
    row: list[float] = field(default_factory=list)
    """The input row (Python models), for protocols with their own payload (MLServer's V2)."""
    batch_entry_script: str | None = None
    """An entry script exposing ``run_batch`` (micro-batching), when the model has one."""


def _train_sklearn(name: str, out_dir: Path) -> BenchModel:
    import joblib
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge

    features, target = load_diabetes(return_X_y=True)
    estimator: Any
    if name == "ridge":
        estimator = Ridge(alpha=1.0)
    else:
        estimator = GradientBoostingRegressor(n_estimators=200, max_depth=3, random_state=0)
    estimator.fit(features, target)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, out_dir / "model.joblib")
    row = [float(v) for v in features[0]]
    expected = [float(v) for v in estimator.predict(features[:1])]
    return BenchModel(
        name=name,
        language="python",
        model_dir=out_dir,
        source_dir=ENTRY_DIR,
        entry_script="sklearn_score.py",
        body=json.dumps({"data": [row]}).encode(),
        expected=expected,
        row=row,
        batch_entry_script="sklearn_score.py",
    )


def find_nass_csv() -> Path:
    """The NASS CDS data the R example trains on (``MLWS_NASS_CSV`` overrides the search)."""
    override = os.environ.get("MLWS_NASS_CSV")
    for candidate in ([Path(override)] if override else []) + list(NASS_CSV_CANDIDATES):
        if candidate.is_file():
            return candidate
    raise ModelUnavailable("nassCDS.csv not found (set MLWS_NASS_CSV to its path)")


def _train_r(out_dir: Path) -> BenchModel:
    if shutil.which("Rscript") is None:
        raise ModelUnavailable("Rscript is not installed")
    train, score = R_EXAMPLE / "train.R", R_EXAMPLE / "scoring" / "score.R"
    if not train.is_file() or not score.is_file():
        raise ModelUnavailable(f"{R_EXAMPLE} has no train.R/score.R")
    out_dir.mkdir(parents=True, exist_ok=True)
    model_file = out_dir / "model.rds"
    if not model_file.is_file():
        proc = subprocess.run(
            ["Rscript", str(train), str(find_nass_csv()), str(model_file)],
            cwd=R_EXAMPLE,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0 or not model_file.is_file():
            raise ModelUnavailable(f"train.R failed: {proc.stderr.strip()[-2000:]}")
    body = json.dumps([R_RECORD]).encode()
    expected = _score_r_once(score, out_dir, body)
    return BenchModel(
        name="r-accident",
        language="r",
        model_dir=out_dir,
        source_dir=score.parent,
        entry_script="score.R",
        body=body,
        expected=expected,
    )


def _score_r_once(score: Path, model_dir: Path, body: bytes) -> list[float]:
    """Run the R script once with plain Rscript, the reference answer for both R servers."""
    runner = Path(__file__).resolve().parent / "servers" / "score_once.R"
    proc = subprocess.run(
        ["Rscript", "--vanilla", str(runner), str(score)],
        input=body,
        cwd=score.parent,
        env=dict(os.environ, AZUREML_MODEL_DIR=str(model_dir)),
        capture_output=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise ModelUnavailable(f"score.R failed under Rscript: {proc.stderr.decode()[-2000:]}")
    answer = json.loads(proc.stdout)
    return [float(v) for v in answer]


def prepare(name: str, build_dir: Path) -> BenchModel:
    """Train (or reuse) model ``name`` under ``build_dir/models`` and return it."""
    out_dir = build_dir / "models" / name
    if name in ("ridge", "gbr"):
        return _train_sklearn(name, out_dir)
    if name == "r-accident":
        return _train_r(out_dir)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
