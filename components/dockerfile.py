"""Render the Dockerfile of a scoring image (pure: config in, text out).

The image runs ``python3 -m mlws.runtime`` as a non-root user and listens on
:data:`~mlws.components.runtime_env.CONTAINER_PORT`. Its layout, inside the build context
(see :mod:`mlws.components.build_context`) and in the image:

============================  ====================================================
context                       image
============================  ====================================================
``requirements.txt``          the mlws runtime's and the user's pip requirements
``mlws/``                     ``/opt/mlws/mlws`` (the runtime package, on PYTHONPATH)
``models/NAME/VERSION/``      ``/var/azureml-app/azureml-models/NAME/VERSION/``
``app/``                      ``/var/azureml-app`` (the source directory, AML_APP_ROOT)
``ca-certificates/*.crt``     ``/usr/local/share/ca-certificates/mlws/`` (extra CAs)
============================  ====================================================

Layer order, from least to most often changed: base image, extra CAs, apt/CRAN packages, pip
requirements, the mlws runtime, the models, the source directory. A model-only change therefore
rebuilds only the last two ``COPY`` layers and reuses the dependency layers. The image's
``HEALTHCHECK`` runs the runtime's own probe (``python3 -m mlws.runtime.probe``: ``GET /ready``
with the standard library; no curl in the image).

Base images: ``python:<version>-slim`` (Debian); R entry scripts add Debian's ``r-base-core`` and
``r-cran-jsonlite`` (plus ``apt_packages``, plus ``cran_packages`` from CRAN); ``gpu`` uses
:data:`CUDA_BASE_IMAGE` with Ubuntu's Python in a virtualenv; ``conda_packages`` use
:data:`CONDA_BASE_IMAGE` (micromamba, conda-forge).
"""

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from mlws.components.inference_config import InferenceConfig, Model
from mlws.components.runtime_env import ANY_ADDRESS, CONTAINER_PORT, settings_env

APP_ROOT = "/var/azureml-app"
"""The source directory in the image (Azure ML's ``AML_APP_ROOT``)."""
MODELS_ROOT = f"{APP_ROOT}/azureml-models"
"""Parent of the ``$MODEL_NAME/$VERSION`` model folders."""
RUNTIME_ROOT = "/opt/mlws"
"""Where the mlws runtime package lives (on ``PYTHONPATH``)."""
CUDA_BASE_IMAGE = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"
"""Default base image with ``gpu``: CUDA 12 runtime + cuDNN on Ubuntu 24.04 (Python 3.12)."""
CONDA_BASE_IMAGE = "mambaorg/micromamba:1.5.10-bookworm-slim"
"""Default base image with ``conda_packages``."""
CRAN_MIRROR = "https://cloud.r-project.org"
"""CRAN mirror for ``cran_packages``."""
R_PACKAGES = ("r-base-core", "r-cran-jsonlite")
"""Debian packages every R image gets."""
R_BUILD_PACKAGES = ("r-base-dev",)
"""Debian packages added when ``cran_packages`` must be compiled from source."""
USER_ID = 10001
"""The unprivileged user the service runs as."""
CA_DIR = "/usr/local/share/ca-certificates/mlws"
"""Where extra CA certificates go in the image (``update-ca-certificates`` reads them there)."""
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""The system CA bundle that pip, requests and OpenSSL are pointed at when extra CAs are added."""
CA_CONTEXT_DIR = "ca-certificates"
"""Folder of the extra CA certificates in the build context."""
HEALTHCHECK_COMMAND = ("python3", "-m", "mlws.runtime.probe")
"""The image's health check: the runtime's probe of ``/ready`` (init done, serving)."""
HEALTHCHECK_OPTIONS = "--interval=10s --timeout=5s --start-period=60s --retries=3"
"""Docker ``HEALTHCHECK`` timing (a deployment may override it, as LocalWebService does)."""
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
"""An image digest, as ``base_image_digest`` takes it."""


@dataclass(frozen=True)
class BuildOptions:
    """What the image build adds beyond the inference config: trust and base-image pinning."""

    ca_certificates: tuple[str, ...] = ()
    """File names of extra CA certificates (PEM, ``.crt``) under :data:`CA_CONTEXT_DIR`."""
    base_image_digest: str | None = None
    """``sha256:...``: the base image is pinned to this digest (``FROM image@sha256:...``)."""


@dataclass(frozen=True)
class ModelPlacement:
    """Where one model goes, in the build context and in the image."""

    model: Model
    """The model."""
    context_dir: str
    """Folder in the build context, e.g. ``models/diabetes/3``."""
    image_dir: str
    """Folder in the image, e.g. ``/var/azureml-app/azureml-models/diabetes/3``."""


def model_placements(models: Sequence[Model]) -> list[ModelPlacement]:
    """Each model's folder: ``NAME/VERSION`` under ``models/`` and :data:`MODELS_ROOT`."""
    return [
        ModelPlacement(
            model=m,
            context_dir=f"models/{m.name}/{m.version}",
            image_dir=f"{MODELS_ROOT}/{m.name}/{m.version}",
        )
        for m in models
    ]


def model_dir(models: Sequence[Model]) -> str | None:
    """``AZUREML_MODEL_DIR``: the model's folder with one model, the parent with several."""
    if not models:
        return None
    if len(models) == 1:
        return model_placements(models)[0].image_dir
    return MODELS_ROOT


def base_image(config: InferenceConfig, digest: str | None = None) -> str:
    """The ``FROM`` image (explicit, conda, CUDA or python:VERSION-slim), pinned to ``digest``."""
    if config.base_image:
        image = config.base_image
    elif config.conda_packages:
        image = CONDA_BASE_IMAGE
    elif config.gpu:
        image = CUDA_BASE_IMAGE
    else:
        image = f"python:{config.python_version}-slim"
    return image if digest is None else f"{image.partition('@')[0]}@{digest}"


def image_env(config: InferenceConfig, models: Sequence[Model]) -> dict[str, str]:
    """Environment baked into the image: the runtime contract plus the user's variables."""
    env = dict(sorted(config.environment_variables.items()))
    settings = {
        "source_directory": APP_ROOT,
        "entry_script": config.entry_script,
        "host": ANY_ADDRESS,
        "port": CONTAINER_PORT,
        "model_dir": model_dir(models),
    }
    return {**env, **settings_env(settings)}


def _apt_install(packages: Sequence[str]) -> str:
    names = " ".join(sorted(set(packages)))
    return (
        "RUN apt-get update \\\n"
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
        f" {names} \\\n"
        " && rm -rf /var/lib/apt/lists/*"
    )


def cran_from_source(config: InferenceConfig) -> list[str]:
    """``cran_packages`` that no Debian ``r-cran-<name>`` package in the image already provides."""
    debian = {*config.apt_packages, *R_PACKAGES}
    return [p for p in config.cran_packages if f"r-cran-{p.lower()}" not in debian]


def _cran_install(packages: Sequence[str]) -> str:
    vector = ", ".join(json.dumps(p) for p in sorted(set(packages)))
    script = (
        f"pkgs <- c({vector}); "
        "missing <- setdiff(pkgs, rownames(installed.packages())); "
        f"if (length(missing)) install.packages(missing, repos = {json.dumps(CRAN_MIRROR)}); "
        "for (p in pkgs) library(p, character.only = TRUE)"
    )
    return f"RUN Rscript -e {shlex.quote(script)}"


def docker_quote(value: str) -> str:
    """A double-quoted Dockerfile word that the builder reads back as exactly ``value``.

    Inside double quotes Docker removes a backslash before ``"``, ``\\`` and ``$`` and expands
    ``$NAME``, so those three are escaped; values are one line (validated).
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _env_lines(env: dict[str, str]) -> list[str]:
    return [f"ENV {name}={docker_quote(value)}" for name, value in env.items()]


def _ca_lines() -> list[str]:
    install = (
        "RUN if command -v update-ca-certificates >/dev/null 2>&1;"
        " then update-ca-certificates >/dev/null; \\\n"
        f" else mkdir -p /etc/ssl/certs && cat {CA_DIR}/*.crt >> {CA_BUNDLE}; fi"
    )
    return [
        f"COPY {CA_CONTEXT_DIR} {CA_DIR}",
        install,
        f"ENV PIP_CERT={CA_BUNDLE} SSL_CERT_FILE={CA_BUNDLE} REQUESTS_CA_BUNDLE={CA_BUNDLE}",
    ]


def render_dockerfile(
    config: InferenceConfig, models: Sequence[Model], build: BuildOptions | None = None
) -> str:
    """The Dockerfile text for ``config``, ``models`` and ``build`` (same inputs, same text)."""
    build = build or BuildOptions()
    image = base_image(config, build.base_image_digest)
    is_r = config.script_language == "r"
    apt = [*config.apt_packages, *(R_PACKAGES if is_r else ())]
    cran = cran_from_source(config) if is_r else []
    if cran:
        apt += R_BUILD_PACKAGES
    lines = [
        "# Generated by mlws: do not edit; change the ScoringImage inputs instead.",
        f"FROM {image}",
        "USER root",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 "
        "PIP_DISABLE_PIP_VERSION_CHECK=1 HOME=/tmp",
    ]
    if build.ca_certificates:
        lines += _ca_lines()
    if config.conda_packages:
        specs = " ".join(shlex.quote(p) for p in config.conda_packages)
        lines += [
            f"RUN micromamba install -y -n base -c conda-forge python={config.python_version} "
            f"pip {specs} \\\n && micromamba clean --all --yes",
            "ENV PATH=/opt/conda/bin:$PATH",
        ]
    if config.gpu and not config.base_image:
        apt += ["python3", "python3-venv"]
    if apt:
        lines.append(_apt_install(apt))
    if config.gpu and not config.base_image:
        lines += ["RUN python3 -m venv /opt/venv", "ENV PATH=/opt/venv/bin:$PATH"]
    if cran:
        lines.append(_cran_install(cran))
    lines += [
        f"COPY requirements.txt {RUNTIME_ROOT}/requirements.txt",
        f"RUN python3 -m pip install -r {RUNTIME_ROOT}/requirements.txt",
        f"COPY mlws {RUNTIME_ROOT}/mlws",
    ]
    if models:
        lines.append(f"COPY models {MODELS_ROOT}")
    lines += [f"COPY app {APP_ROOT}", f"ENV PYTHONPATH={RUNTIME_ROOT}"]
    lines += _env_lines(image_env(config, models))
    lines += [
        f"WORKDIR {APP_ROOT}",
        f"USER {USER_ID}:{USER_ID}",
        f"EXPOSE {CONTAINER_PORT}",
        f"HEALTHCHECK {HEALTHCHECK_OPTIONS} CMD {json.dumps(list(HEALTHCHECK_COMMAND))}",
        'ENTRYPOINT ["python3", "-m", "mlws.runtime"]',
    ]
    return "\n".join(lines) + "\n"
