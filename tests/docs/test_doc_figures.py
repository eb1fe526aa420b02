"""The outputs and figures README.md, docs/ and the examples' READMEs quote are what their commands
print now (``scripts/doc_figures.py``; refresh with ``bash scripts/doc-figures --write``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("doc_figures", REPO / "scripts/doc_figures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["doc_figures"] = module
    spec.loader.exec_module(module)
    return module


doc_figures = _load()
FIGURES = [figure for path in doc_figures.documents() for figure in doc_figures.figures(path)]


def test_the_docs_quote_figures() -> None:
    where = {figure.where.split(":")[0] for figure in FIGURES}
    assert {
        "docs/render.md",
        "examples/aks-gpu/README.md",
        "examples/local-sklearn/README.md",
        "examples/r-accident/README.md",
    } <= where


@pytest.mark.slow
@pytest.mark.parametrize("figure", FIGURES, ids=[figure.where for figure in FIGURES])
def test_a_quoted_figure_is_what_its_command_prints(figure: object) -> None:
    pytest.importorskip("pulumi_azure_native", reason="the figures render examples: mlws[infra]")
    now = doc_figures.stale(figure)
    assert now is None, f"{figure.where} quotes:\n{figure.quoted}\nbut the command prints:\n{now}"  # type: ignore[attr-defined]


def test_a_stale_figure_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Resources: <!-- figure: echo 23 -->22<!-- /figure --> and"
        " <!-- figure: echo 8 -->8<!-- /figure -->.\n\n"
        "<!-- figure: printf 'a\\nb\\n' -->\n```text\na\nc\n```\n\n"
        "<!-- figure -->\n```console\n$ echo one\none\n$ echo image:0123456789abcdef0123\n"
        "image:ffffffffffffffffffff\n```\n"
    )
    inline_stale, inline_ok, block, console = doc_figures.figures(doc)
    assert (inline_stale.quoted, inline_stale.line) == ("22", 1)
    assert doc_figures.stale(inline_stale) == "23"
    assert doc_figures.stale(inline_ok) is None
    assert doc_figures.stale(block) == "a\nb\n"
    assert console.commands == ("echo one", "echo image:0123456789abcdef0123")
    assert doc_figures.stale(console) is None  # content hashes are not figures


def test_a_mark_without_a_block_is_an_error(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- figure: echo 1 -->\nno block\n")
    with pytest.raises(ValueError, match="must precede a fenced block"):
        doc_figures.figures(doc)
