"""``mlws package``: write a scoring image's Docker build context to a folder (no engine needed).

Azure ML's ``Model.package(..., generate_dockerfile=True).save(dir)`` / ``az ml model package``:
the folder holds exactly what :class:`~mlws.components.scoring_image.ScoringImage` builds (the same
Dockerfile, model layout and content hash, hence the same tag), and the command prints the
``docker build`` and ``docker run`` lines that use it. Flags follow ``mlws serve``. Bad input prints
one ``mlws package: error: ...`` line and exits 2.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlws.cli import source_options as options
from mlws.cli.serve import parse_model_spec
from mlws.cli.source_options import UsageError

if TYPE_CHECKING:
    from mlws.components.scoring_image import ScoringImageArgs


def requirements_lines(path: Path) -> list[str]:
    """The requirements of a ``requirements.txt``: one per line, comments and blanks dropped."""
    try:
        text = path.read_text()
    except OSError as error:
        raise UsageError(f"--requirements {path}: {error.strerror}") from None
    lines = [line.split(" #", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def model_args(model_dir: Path | None, models: list[str]) -> list[dict[str, Any]]:
    """ScoringImage ``models`` from ``--model-dir`` (one model, named after its folder, version 1)
    or from repeated ``--model NAME:VERSION=PATH``."""
    options.one_model_source(model_dir, models)
    if model_dir is not None:
        if not model_dir.exists():
            raise UsageError(f"model directory {model_dir} does not exist")
        name = model_dir.resolve().name if model_dir.is_dir() else model_dir.stem
        return [{"name": name or "model", "version": 1, "path": str(model_dir.resolve())}]
    out = []
    for spec in models:
        name, version, path = parse_model_spec(spec)
        if not version.isdigit() or int(version) < 1:
            raise UsageError(f"--model {spec!r}: an image's model version is a number from 1 up")
        out.append({"name": name, "version": int(version), "path": str(path)})
    return out


def docker_lines(output: Path, image: str, auth: bool) -> list[str]:
    """The commands that build the folder and run the image (keys from the environment)."""
    from mlws.components.runtime_env import CONTAINER_PORT, LOCAL_HOST_PORT
    from mlws.runtime.settings import env_var_name

    # Published where ``mlws serve`` and LocalWebService answer by default.
    run = ["docker", "run", "--rm", "-p", f"127.0.0.1:{LOCAL_HOST_PORT}:{CONTAINER_PORT}"]
    if auth:
        run += ["-e", f"{env_var_name('auth_mode')}=key"]
        run += ["-e", env_var_name("primary_key"), "-e", env_var_name("secondary_key")]
    return [
        shlex.join(["docker", "build", "-t", image, str(output)]),
        shlex.join([*run, image]),
    ]


def package(
    source_arg: options.SourceArgument = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder to write the build context to (required; created, or one mlws wrote).",
            show_default=False,
        ),
    ] = None,
    entry_script: Annotated[
        str,
        typer.Option(help="Entry script (.py or .R), relative to the source directory."),
    ] = "score.py",
    source_directory: options.SourceDirectoryOption = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(help="One model folder (or file): AZUREML_MODEL_DIR in the image."),
    ] = None,
    model: Annotated[
        list[str] | None,
        options.model_option(
            "NAME:VERSION=PATH, repeatable: AZUREML_MODEL_DIR/NAME/VERSION in the image."
        ),
    ] = None,
    pip: Annotated[
        list[str] | None,
        typer.Option(
            "--pip", metavar="SPEC", help="pip requirement, repeatable.", show_default=False
        ),
    ] = None,
    requirements: Annotated[
        Path | None,
        typer.Option(help="A requirements.txt whose lines are added to --pip."),
    ] = None,
    apt: Annotated[
        list[str] | None,
        typer.Option("--apt", metavar="PACKAGE", help="Debian package, repeatable."),
    ] = None,
    cran: Annotated[
        list[str] | None,
        typer.Option("--cran", metavar="PACKAGE", help="CRAN package (R), repeatable."),
    ] = None,
    r: Annotated[
        bool, typer.Option("--r", help="An R entry script (implied by a .R entry script).")
    ] = False,
    python_version: Annotated[
        str | None,
        typer.Option(help="Python of the default base image (default 3.11).", show_default=False),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(help="Base image instead of python:<version>-slim.", show_default=False),
    ] = None,
    base_image_digest: Annotated[
        str | None,
        typer.Option(help="Pin the base image: sha256:...", show_default=False),
    ] = None,
    ca_certificate: Annotated[
        list[str] | None,
        typer.Option(
            "--ca-certificate",
            metavar="PEM",
            help="Extra CA certificate the image trusts (e.g. a TLS-inspecting proxy's), "
            "repeatable.",
            show_default=False,
        ),
    ] = None,
    repository: Annotated[
        str | None,
        typer.Option(
            help="Image repository in the printed lines (default: the output folder's name).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write the Docker build context of a scoring image to --output and print how to build it."""
    try:
        if output is None:
            raise UsageError("--output DIR is required (the folder the build context goes to)")
        source = options.one_source(source_arg, source_directory) or Path(".")
        packages = list(pip or [])
        if requirements is not None:
            packages += requirements_lines(requirements)
        args: dict[str, Any] = {
            "entry_script": entry_script,
            "source_directory": str(source),
            "models": model_args(model_dir, list(model or [])),
            "pip_packages": packages,
            "apt_packages": list(apt or []),
            "cran_packages": list(cran or []),
            "build_dir": str(output),
            "ca_certificates": list(ca_certificate or []),
        }
        optional = {
            "language": "r" if r else None,
            "python_version": python_version,
            "base_image": base_image,
            "base_image_digest": base_image_digest,
            "repository": repository,
        }
        args.update({k: v for k, v in optional.items() if v is not None})
        image_name, count = write_package(args, output)
    except UsageError as error:
        typer.echo(f"mlws package: error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {count} files to {output} (image {image_name})")
    for line in docker_lines(output, image_name, auth=True):
        typer.echo(line)


def write_package(args: dict[str, Any], output: Path) -> tuple[str, int]:
    """Validate ``args`` as ScoringImage does, write the context to ``output``; the image name
    (``repository:tag``) and the number of files."""
    try:
        from mlws.components.build_context import write_context
        from mlws.components.errors import ConfigError
        from mlws.components.scoring_image import parse_scoring_image
    except ImportError as error:
        raise UsageError(f"needs mlws[infra] ({error.name} is missing)") from None

    repository = args.pop("repository", None) or _default_repository(output)
    image_args: ScoringImageArgs = {**args, "repository": repository}  # type: ignore[typeddict-item]
    try:
        spec = parse_scoring_image(repository, image_args)
    except ConfigError as error:
        raise UsageError("; ".join(str(problem) for problem in error.problems)) from None
    context = spec.plan()
    try:
        write_context(context, spec.build_dir)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise UsageError(f"--output {output}: {reason}") from None
    return f"{spec.repository}:{context.tag}", len(context.files)


def _default_repository(output: Path) -> str:
    from mlws.components.scoring_image import default_repository

    return default_repository(output.resolve().name)


def register(app: typer.Typer) -> None:
    """Add ``mlws package`` to ``app``."""
    app.command("package")(package)
