"""The options ``mlws serve`` and ``mlws package`` share: where the entry script and models are.

Both commands take the source folder as an argument or as ``--source-directory`` (Azure ML's
``AML_APP_ROOT``), once, and models as one ``--model-dir`` or repeated
``--model NAME:VERSION=PATH``.
The options are declared here once; each command adds only its own help where the meaning differs
(``serve`` links models into a temporary layout, ``package`` copies them into the image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


class UsageError(Exception):
    """Bad command-line input: shown as one line, exit code 2."""


SourceArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="SOURCE_DIRECTORY",
        help="Folder with the entry script and its helpers (AML_APP_ROOT; default: .).",
        show_default=False,
    ),
]
"""The positional source folder."""

SourceDirectoryOption = Annotated[
    Path | None,
    typer.Option(help="Same as SOURCE_DIRECTORY (AML_APP_ROOT).", show_default=False),
]
"""``--source-directory``, the same folder as an option."""

MODEL_METAVAR = "NAME:VERSION=PATH"
"""How one ``--model`` is written."""


def model_option(help_text: str) -> Any:
    """``--model NAME:VERSION=PATH`` (repeatable), with the command's own help."""
    return typer.Option("--model", metavar=MODEL_METAVAR, help=help_text, show_default=False)


def one_source(source_arg: Path | None, source_directory: Path | None) -> Path | None:
    """The source folder given as the argument or the option; both only when they agree."""
    if source_arg is not None and source_directory is not None and source_arg != source_directory:
        raise UsageError(
            "give the source directory once: as SOURCE_DIRECTORY or --source-directory"
        )
    return source_arg if source_arg is not None else source_directory


def one_model_source(model_dir: Path | None, models: list[str] | None) -> None:
    """Refuse ``--model-dir`` together with ``--model``."""
    if model_dir is not None and models:
        raise UsageError("use either --model-dir or --model, not both")
