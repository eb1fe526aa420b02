"""``mlws serve`` when the entry script cannot start: the failure is printed once, says what is
wrong and where, and names the flag that fixes an unset model folder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.cli_helpers import MLWS

pytestmark = pytest.mark.slow

READS_MODEL_DIR = """import os


def init():
    global path
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl")


def run(data):
    return data
"""
BROKEN_INIT = """def init():
    load_the_model()


def run(data):
    return data
"""


def _serve(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    (folder / "score.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLWS_", "AZUREML_"))}
    return subprocess.run(
        [*MLWS, "serve", str(folder), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "failed" in line or "Traceback" in line]


def test_an_unset_model_dir_says_which_flag_sets_it(tmp_path: Path) -> None:
    result = _serve(tmp_path, READS_MODEL_DIR)
    assert result.returncode == 3, result.stderr
    [line] = _failure_lines(result.stderr)
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["message"].endswith(
        "failed: KeyError: AZUREML_MODEL_DIR is not set (mlws serve --model-dir sets it)"
        " (at score.py:6)"
    )


def test_an_init_failure_is_printed_once_with_the_scripts_traceback(tmp_path: Path) -> None:
    result = _serve(tmp_path, BROKEN_INIT)
    assert result.returncode == 3, result.stderr
    assert [line for line in result.stderr.splitlines() if "load_the_model" in line] == [
        line for line in _failure_lines(result.stderr)
    ], result.stderr  # one line names it: the error, with its traceback as a field
    [line] = _failure_lines(result.stderr)
    record = json.loads(line)
    assert "NameError: name 'load_the_model' is not defined (at score.py:2)" in record["message"]
    traceback = record["traceback"]
    assert traceback.startswith("Traceback (most recent call last):\n")
    assert '/score.py", line 2, in init' in traceback
    assert "python_script.py" not in traceback  # the runtime's own frames are left out
