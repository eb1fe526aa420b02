"""Choosing the entry-script implementation by suffix."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlws.runtime.entry_script import EntryScriptError
from mlws.runtime.loader import load_entry_script
from mlws.runtime.python_script import PythonEntryScript
from tests.runtime.runtime_helpers import make_settings, write_script


def test_py_scripts_get_the_python_implementation(tmp_path: Path) -> None:
    write_script(tmp_path, "echo")
    assert isinstance(load_entry_script(make_settings(tmp_path)), PythonEntryScript)


@pytest.mark.parametrize("filename", ["score.R", "score.r"])
def test_r_scripts_get_the_r_implementation(tmp_path: Path, filename: str) -> None:
    (tmp_path / filename).write_text("init <- function() function(data) data\n")
    script = load_entry_script(make_settings(tmp_path, entry_script=Path(filename)))
    assert type(script).__name__ == "REntryScript"
    assert type(script).__module__ == "mlws.runtime.r_script"


@pytest.mark.parametrize("filename", ["score.js", "score"])
def test_unknown_suffixes_are_refused_clearly(tmp_path: Path, filename: str) -> None:
    (tmp_path / filename).write_text("")
    with pytest.raises(EntryScriptError, match=r"unknown suffix .*mlws serves \.R, \.py"):
        load_entry_script(make_settings(tmp_path, entry_script=Path(filename)))


def test_missing_scripts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EntryScriptError, match="does not exist"):
        load_entry_script(make_settings(tmp_path))
