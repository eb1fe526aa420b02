"""A tiny scoring project on disk (entry script, helper, model) for the ScoringImage tests."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCORE_PY = """\
import json
import os
from pathlib import Path

MODEL = None


def init():
    global MODEL
    MODEL = (Path(os.environ["AZUREML_MODEL_DIR"]) / "model.txt").read_text().strip()


def run(raw_data):
    return {"model": MODEL, "echo": json.loads(raw_data)}
"""

SCORE_R = """\
init <- function() {
  model <- readLines(file.path(Sys.getenv("AZUREML_MODEL_DIR"), "model.txt"))
  function(data) jsonlite::toJSON(list(model = model))
}
"""


@dataclass(frozen=True)
class Project:
    """Paths of one toy project."""

    root: Path
    source: Path
    model: Path
    build: Path

    def image_args(self, **overrides: Any) -> Any:
        """ScoringImage args for this project (one model, version 1, local image).

        Typed ``Any``: tests pass deliberately invalid values through it.
        """
        args: dict[str, Any] = {
            "entry_script": "score.py",
            "source_directory": str(self.source),
            "pip_packages": ["numpy==2.1.3"],
            "models": [{"name": "toy", "version": 1, "path": str(self.model)}],
            "build_dir": str(self.build),
        }
        args.update(overrides)
        return args


def make_project(root: Path) -> Project:
    """Write the toy project under ``root``."""
    source = root / "scoring"
    source.mkdir(parents=True)
    (source / "score.py").write_text(SCORE_PY)
    (source / "score.R").write_text(SCORE_R)
    (source / "helper.py").write_text("VALUE = 1\n")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"junk")
    model = root / "model"
    model.mkdir()
    (model / "model.txt").write_text("toy-v1\n")
    return Project(root=root, source=source, model=model, build=root / "build")
