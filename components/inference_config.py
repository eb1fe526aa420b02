"""What goes into a scoring image: Azure ML's ``inference_config``, environment and models.

The ``*Args`` TypedDicts are the public inputs (flat, so they read the same from every Pulumi
language): :class:`EnvironmentArgs` (dependencies, base image, GPU), :class:`InferenceConfigArgs`
(entry script and source directory, plus the environment's fields) and :class:`ModelArgs`. The
pydantic models :class:`Environment`, :class:`InferenceConfig` and :class:`Model` are the validated,
frozen specs the image is built from. Local paths are resolved against the working directory (a
Pulumi program runs in its project folder) and checked at preview time.

Models are laid out the way Azure ML mounts registered models: a model's folder contents (or its
single file) go to ``azureml-models/$MODEL_NAME/$VERSION/``; with one model ``AZUREML_MODEL_DIR``
is that folder, with several it is ``azureml-models`` (see :mod:`mlws.components.dockerfile`).
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Required, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlws.components.errors import CrossCheckedModel, Problem
from mlws.runtime.settings import AZUREML_ENV_NAMES

# Debian package names (optionally =version), CRAN names, conda match specs, env var names.
_APT = re.compile(r"^[a-z0-9][a-z0-9+.\-]+(=[A-Za-z0-9.+:~\-]+)?$")
_CRAN = re.compile(r"^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$")
_CONDA = re.compile(
    r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(::[A-Za-z0-9_.\-]+)?([<>=!~ ]=?[A-Za-z0-9_.*,<>=!|]*)*$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,254}$")
_PYTHON_VERSION = re.compile(r"^3\.(1[1-9]|[2-9][0-9])$")

#: Entry-script suffixes and the language each means.
SCRIPT_LANGUAGES: dict[str, str] = {".py": "python", ".r": "r"}

#: Environment variables the image sets itself (the model layout and entry script).
RESERVED_ENV = frozenset(AZUREML_ENV_NAMES.values())


class EnvironmentArgs(TypedDict, total=False):
    """The software environment of a scoring image (Azure ML's ``r_environment``)."""

    language: str
    """``python`` or ``r``; default: from the entry script's suffix (``.py`` or ``.R``)."""
    python_version: str
    """Python of the default base image ``python:<version>-slim`` (default ``3.11``)."""
    base_image: str
    """Base image instead of the default; it must provide ``python3`` (3.11+) with ``pip``."""
    pip_packages: list[str]
    """pip requirements, e.g. ``scikit-learn==1.5.2`` (installed with the mlws runtime's own)."""
    conda_packages: list[str]
    """conda-forge packages, e.g. ``numpy=1.26``; switches the base image to micromamba."""
    apt_packages: list[str]
    """Debian packages, e.g. ``libgomp1`` or ``r-cran-randomforest`` (prebuilt R packages)."""
    cran_packages: list[str]
    """R packages installed from CRAN, e.g. ``caret`` (``jsonlite`` is always installed)."""
    environment_variables: dict[str, str]
    """Variables baked into the image (not for secrets: whoever pulls the image reads them)."""
    gpu: bool
    """Build on a CUDA runtime base image (for ``gpu_cores`` on AKS); default off."""


class InferenceConfigArgs(EnvironmentArgs, total=False):
    """Entry script, source directory and environment (Azure ML's ``inference_config``)."""

    entry_script: Required[str]
    """The scoring script, relative to ``source_directory``: ``score.py`` or ``score.R``."""
    source_directory: str
    """Folder copied into the image as the app root (default: the working directory)."""


class ModelArgs(TypedDict, total=False):
    """A model baked into the image, named and versioned as in Azure ML's model registry."""

    name: Required[str]
    """Model name; with several models, its folder under ``AZUREML_MODEL_DIR``."""
    version: int
    """Model version (default 1); with several models, the folder under the name."""
    path: Required[str]
    """A model folder (its contents are copied) or a single model file."""


class Environment(BaseModel):
    """Validated environment: what to install and on which base image."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: Literal["python", "r"] | None = Field(
        default=None, description="python or r; None: from the entry script's suffix."
    )
    python_version: str = Field(default="3.11", description="Python of the default base image.")
    base_image: str | None = Field(default=None, description="Base image override.")
    pip_packages: tuple[str, ...] = Field(default=(), description="pip requirements.")
    conda_packages: tuple[str, ...] = Field(default=(), description="conda-forge packages.")
    apt_packages: tuple[str, ...] = Field(default=(), description="Debian packages.")
    cran_packages: tuple[str, ...] = Field(default=(), description="CRAN packages.")
    environment_variables: dict[str, str] = Field(
        default_factory=dict, description="Variables baked into the image."
    )
    gpu: bool = Field(default=False, description="CUDA runtime base image.")

    @field_validator("python_version")
    @classmethod
    def _python_version(cls, value: str) -> str:
        if not _PYTHON_VERSION.fullmatch(value):
            raise ValueError("must be a Python version 3.11 or later, like '3.11'")
        return value

    @field_validator("base_image")
    @classmethod
    def _base_image(cls, value: str | None) -> str | None:
        if value is not None and not _IMAGE.fullmatch(value):
            raise ValueError("not an image reference (like 'python:3.11-slim')")
        return value

    @field_validator("pip_packages")
    @classmethod
    def _pip(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in values if not v.strip() or v.lstrip().startswith("-") or "\n" in v]
        if bad:
            raise ValueError(f"not pip requirements (no options, one per entry): {bad}")
        return tuple(v.strip() for v in values)

    @field_validator("conda_packages")
    @classmethod
    def _conda(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _matching(values, _CONDA, "conda package specs (like 'numpy=1.26')")

    @field_validator("apt_packages")
    @classmethod
    def _apt(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _matching(values, _APT, "Debian package names (like 'libgomp1')")

    @field_validator("cran_packages")
    @classmethod
    def _cran(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _matching(values, _CRAN, "CRAN package names (like 'caret')")

    @field_validator("environment_variables")
    @classmethod
    def _env(cls, values: dict[str, str]) -> dict[str, str]:
        bad = [k for k in values if not _ENV_NAME.fullmatch(k)]
        if bad:
            raise ValueError(f"not environment variable names: {bad}")
        reserved = sorted(RESERVED_ENV.intersection(values))
        if reserved:
            raise ValueError(f"{reserved} are set by mlws from the entry script and models")
        multiline = sorted(k for k, v in values.items() if "\n" in v or "\r" in v)
        if multiline:
            raise ValueError(f"values must be one line: {multiline}")
        return values


def _matching(values: tuple[str, ...], pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    bad = [v for v in values if not pattern.fullmatch(v)]
    if bad:
        raise ValueError(f"not {what}: {bad}")
    return values


class Model(BaseModel):
    """Validated model reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Model name (folder under AZUREML_MODEL_DIR).")
    version: int = Field(default=1, ge=1, description="Model version (folder under the name).")
    path: Path = Field(description="Model folder or file.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _MODEL_NAME.fullmatch(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (Azure ML model names)")
        return value

    @field_validator("path")
    @classmethod
    def _exists(cls, value: Path) -> Path:
        if not value.exists():
            raise ValueError(f"{str(value)!r} does not exist")
        return value


class InferenceConfig(Environment, CrossCheckedModel):
    """Validated inference configuration: entry script, source directory and environment.

    It *is* an :class:`Environment` plus two fields, mirroring the flat args;
    :attr:`environment` gives the environment part alone.
    """

    entry_script: str = Field(description="Scoring script relative to source_directory.")
    source_directory: Path = Field(default=Path("."), description="App root folder.")

    @property
    def environment(self) -> Environment:
        """The environment part of this config."""
        return Environment(**{k: getattr(self, k) for k in Environment.model_fields})

    @property
    def script_language(self) -> str:
        """``python`` or ``r``: the explicit language or the one the entry script's suffix means."""
        return self.language or SCRIPT_LANGUAGES[Path(self.entry_script).suffix.lower()]

    @property
    def entry_script_path(self) -> Path:
        """The entry script's location on this machine."""
        return self.source_directory / self.entry_script

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """Problems involving files on disk or several fields, checked on raw values."""
        problems: list[Problem] = []
        script, source = raw.get("entry_script"), raw.get("source_directory", ".")
        if not isinstance(source, str | Path) or not Path(source).is_dir():
            problems.append(Problem("source_directory", f"{source!r} is not a folder"))
            source = None
        if isinstance(script, str):
            suffix = Path(script).suffix.lower()
            language = raw.get("language")
            if suffix not in SCRIPT_LANGUAGES:
                problems.append(Problem("entry_script", "must be a .py or .R file"))
            elif language in ("python", "r") and language != SCRIPT_LANGUAGES[suffix]:
                problems.append(
                    Problem("language", f"{language!r} does not match entry script {script!r}")
                )
            if Path(script).is_absolute() or ".." in Path(script).parts:
                problems.append(
                    Problem("entry_script", "must be a path relative to source_directory")
                )
            elif source is not None and not (Path(source) / script).is_file():
                problems.append(
                    Problem("entry_script", f"{script!r} is not a file in {str(source)!r}")
                )
        if raw.get("conda_packages") and raw.get("base_image"):
            problems.append(
                Problem("conda_packages", "conda packages need the default (micromamba) base image")
            )
        if raw.get("conda_packages") and raw.get("gpu"):
            problems.append(
                Problem("conda_packages", "conda packages are not supported on the GPU base image")
            )
        return problems


def models_problems(models: list[Model]) -> list[Problem]:
    """Duplicate (name, version) pairs: two models cannot share a folder."""
    seen: dict[tuple[str, int], int] = {}
    problems = []
    for index, model in enumerate(models):
        key = (model.name, model.version)
        if key in seen:
            problems.append(
                Problem(
                    f"models[{index}]",
                    f"{model.name} version {model.version} is also models[{seen[key]}]",
                )
            )
        seen.setdefault(key, index)
    return problems
