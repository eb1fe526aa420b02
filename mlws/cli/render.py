"""``mlws render``: preview a Pulumi program offline (under mocks), or diff two such previews.

``mlws render PROGRAM_DIR [--stack S] [--config k=v]... [--format markdown|json]`` prints every
resource the program registers (secrets as ``[secret]``); ``mlws render --diff OLD.json NEW.json``
prints what would be created, changed field by field, replaced or deleted. Errors are one line on
stderr and exit code 2.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mlws.render.model import Render


class Format(enum.StrEnum):
    """Output formats: ``text`` is for diffs only."""

    markdown = "markdown"
    json = "json"
    text = "text"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"mlws render: error: {message}", err=True)
    return typer.Exit(2)


def _read_render(path: Path) -> Render:
    from mlws.render.model import Render

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    try:
        return Render.from_json(text)
    except ValueError as exc:
        raise _fail(f"{path}: {exc}") from None


def _diff(old_path: Path, new_path: Path, fmt: Format) -> str:
    from mlws.render.diff import diff_renders
    from mlws.render.formats import diff_json, diff_markdown, diff_text

    old, new = _read_render(old_path), _read_render(new_path)
    diff = diff_renders(old, new)
    if fmt is Format.json:
        return diff_json(diff)
    if fmt is Format.markdown:
        return diff_markdown(diff)
    return diff_text(diff)


def _render(program_dir: Path, stack: str, config: list[str], fmt: Format) -> str:
    from mlws.render import RenderError, render_program
    from mlws.render.formats import render_json, render_markdown
    from mlws.render.project import load_project, parse_overrides, stack_config_path
    from mlws.stack_config import unknown_stack_message

    try:
        overrides = parse_overrides(config)
        project = load_project(program_dir)
        unknown = unknown_stack_message(project.root, stack)
        if unknown is not None:
            raise _fail(unknown)
        stack_file = stack_config_path(project, stack)
        render = render_program(program_dir, stack=stack, overrides=overrides)
    except RenderError as exc:
        raise _fail(str(exc)) from None
    if not stack_file.is_file():
        typer.echo(
            f"mlws render: note: no {stack_file}; rendered with the project's defaults"
            " and --config values only",
            err=True,
        )
    return render_json(render) if fmt is Format.json else render_markdown(render)


def render(
    program_dir: Annotated[
        Path | None,
        typer.Argument(
            metavar="PROGRAM_DIR",
            help="Folder holding Pulumi.yaml (a Python program).",
            show_default=False,
        ),
    ] = None,
    stack: Annotated[
        str,
        typer.Option(
            "--stack", "-s", metavar="STACK", help="Stack whose Pulumi.<stack>.yaml is read."
        ),
    ] = "dev",
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            "-c",
            metavar="KEY=VALUE",
            help="Override a config value; a bare KEY is the project's (repeatable).",
        ),
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="markdown or json for a render; text, markdown or json for a diff.",
        ),
    ] = None,
    diff: Annotated[
        tuple[Path, Path] | None,
        typer.Option("--diff", metavar="OLD.json NEW.json", help="Compare two JSON renders."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."
        ),
    ] = None,
) -> None:
    """Preview a Pulumi program offline under mocks, or diff two JSON renders."""
    if diff is not None:
        if program_dir is not None:
            raise _fail("give either PROGRAM_DIR or --diff OLD.json NEW.json, not both")
        text = _diff(diff[0], diff[1], fmt or Format.text)
    elif program_dir is None:
        raise _fail("missing PROGRAM_DIR (or --diff OLD.json NEW.json)")
    else:
        if fmt is Format.text:
            raise _fail("--format text is for --diff; a render is markdown or json")
        text = _render(program_dir, stack, config or [], fmt or Format.markdown)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot write {output}: {exc.strerror}") from None
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add ``mlws render`` to ``app``."""
    app.command("render")(render)
