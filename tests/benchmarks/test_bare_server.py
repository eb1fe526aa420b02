"""The ``bare`` ceiling server answers the model's own predictions on both of its processes."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import joblib
from sklearn.linear_model import Ridge

from benchmarks import systems
from benchmarks.models import BenchModel
from benchmarks.procs import running


def test_bare_serves_the_models_predictions(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    estimator = Ridge().fit([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], [1.0, 2.0, 5.0])
    joblib.dump(estimator, model_dir / "model.joblib")
    row = [0.5, 1.5]
    model = BenchModel(
        name="tiny",
        language="python",
        model_dir=model_dir,
        source_dir=tmp_path,
        entry_script="unused.py",
        body=json.dumps({"data": [row]}).encode(),
        expected=[float(v) for v in estimator.predict([row])],
        row=row,
    )
    (tmp_path / "logs").mkdir()
    # The repository's venv has what the benchmark's "minimal" venv gives the server.
    spec = systems._bare(model, Path(sys.executable).parent, tmp_path / "logs")
    with running(spec.server):
        for _ in range(4):  # new connections: both processes answer alike
            request = urllib.request.Request(spec.url, data=model.body, method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
                answer = json.loads(response.read())
            assert answer == model.expected
            spec.check(json.dumps(answer).encode(), model.expected)
