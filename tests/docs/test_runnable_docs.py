"""The command blocks of README.md, docs/ and the examples' READMEs can be run as written by a
newcomer: from the repository root, in its environment, leaving no files in the clone."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted(
    {*REPO.glob("README.md"), *REPO.glob("docs/*.md"), *REPO.glob("examples/*/README.md")}
)
_BLOCK = re.compile(r"^```(?:bash|console|sh)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _commands(block: str) -> list[str]:
    lines = []
    for line in block.splitlines():
        line = line.removeprefix("$ ").split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _blocks(path: Path) -> list[list[str]]:
    return [_commands(match[1]) for match in _BLOCK.finditer(path.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_block_runs_from_the_repository_root(path: Path) -> None:
    for block in _blocks(path):
        cwd = REPO
        for command in block:
            for part in re.split(r"&&|;|\|\|", command):
                words = part.strip().lstrip("(").split() or [""]
                if words[0] == "cd" and len(words) > 1 and words[1] not in ("..", "-"):
                    target = cwd / words[1]
                    assert target.is_dir(), f"{path.name}: `{command}` from {cwd}: no {target}"
                    if not part.strip().startswith("("):
                        cwd = target
                if words[0] == "source" and len(words) > 1:
                    target = cwd / words[1]
                    assert target.is_file(), f"{path.name}: `{command}` from {cwd}: no {target}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_renders_write_their_files_outside_the_clone(path: Path) -> None:
    for block in _blocks(path):
        for command in block:
            if not command.startswith("mlws render"):
                continue
            words = command.split()
            for flag, value in itertools.pairwise(words):
                if flag in ("-o", "--output"):
                    assert value.startswith(("/", "$")), f"{path.name}: `{command}` writes {value}"


def test_the_tour_says_to_activate_the_environment_before_its_first_bare_mlws() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    bare = re.search(r"^mlws ", text, re.MULTILINE)
    assert bare is not None
    assert "source .venv/bin/activate" in text[: bare.start()]
