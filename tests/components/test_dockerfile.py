"""The Dockerfile renderer (pure): base images, dependencies, model layout, runtime contract."""

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlws.components.deployment_config import CONTAINER_PORT
from mlws.components.dockerfile import (
    CA_BUNDLE,
    CA_DIR,
    CONDA_BASE_IMAGE,
    CUDA_BASE_IMAGE,
    HEALTHCHECK_COMMAND,
    MODELS_ROOT,
    BuildOptions,
    base_image,
    cran_from_source,
    image_env,
    model_dir,
    render_dockerfile,
)
from mlws.components.inference_config import InferenceConfig, Model
from mlws.runtime.settings import env_var_name
from tests.components.scoring_project import Project, make_project

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def config(project: Project, **fields: Any) -> InferenceConfig:
    values: dict[str, Any] = {"entry_script": "score.py", "source_directory": project.source}
    values.update(fields)
    return InferenceConfig(**values)


def models(project: Project, *versions: tuple[str, int]) -> list[Model]:
    return [Model(name=name, version=version, path=project.model) for name, version in versions]


def env_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("ENV ") and "=" in line and " " not in line[4:].split("=", 1)[0]:
            name, _, value = line[4:].partition("=")
            out[name] = value.strip('"')
    return out


def test_python_image(project: Project) -> None:
    text = render_dockerfile(config(project), models(project, ("toy", 3)))
    lines = text.splitlines()
    assert "FROM python:3.11-slim" in lines
    assert "apt-get" not in text
    assert "RUN python3 -m pip install -r /opt/mlws/requirements.txt" in lines
    assert lines[-1] == 'ENTRYPOINT ["python3", "-m", "mlws.runtime"]'
    assert f"EXPOSE {CONTAINER_PORT}" in lines
    assert "USER 10001:10001" in lines
    env = env_lines(text)
    assert env[env_var_name("model_dir")] == f"{MODELS_ROOT}/toy/3"
    assert env[env_var_name("entry_script")] == "score.py"
    assert env[env_var_name("source_directory")] == "/var/azureml-app"
    assert env[env_var_name("host")] == "0.0.0.0"
    assert env[env_var_name("port")] == str(CONTAINER_PORT)
    assert "COPY models /var/azureml-app/azureml-models" in lines


def test_model_dir_for_one_several_and_no_models(project: Project) -> None:
    assert model_dir(models(project, ("a", 1))) == f"{MODELS_ROOT}/a/1"
    assert model_dir(models(project, ("a", 1), ("b", 2))) == MODELS_ROOT
    assert model_dir([]) is None
    text = render_dockerfile(config(project), [])
    assert "COPY models" not in text
    assert env_var_name("model_dir") not in env_lines(text)


def test_r_image_gets_r_and_cran_packages(project: Project) -> None:
    text = render_dockerfile(
        config(
            project,
            entry_script="score.R",
            apt_packages=["r-cran-randomforest"],
            cran_packages=["caret", "glmnet"],
        ),
        models(project, ("accidents", 1)),
    )
    assert (
        "--no-install-recommends r-base-core r-base-dev r-cran-jsonlite r-cran-randomforest \\"
        in text
    )
    assert 'RUN Rscript -e \'pkgs <- c("caret", "glmnet"); missing <- setdiff(' in text
    assert "for (p in pkgs) library(p, character.only = TRUE)'" in text
    assert "python3 -m pip install" in text  # the runtime itself is Python


def test_cran_packages_debian_provides_are_not_compiled(project: Project) -> None:
    cfg = config(
        project,
        entry_script="score.R",
        cran_packages=["jsonlite", "randomForest"],
        apt_packages=["r-cran-randomforest"],
    )
    text = render_dockerfile(cfg, [])
    assert "Rscript" not in text
    assert "r-base-dev" not in text
    assert cran_from_source(config(project, cran_packages=["jsonlite", "caret"])) == ["caret"]


def test_python_image_ignores_cran_packages_but_installs_apt(project: Project) -> None:
    text = render_dockerfile(config(project, apt_packages=["libgomp1"], cran_packages=["x1"]), [])
    assert "install -y --no-install-recommends libgomp1 \\" in text
    assert "Rscript" not in text
    assert "r-base-core" not in text


def test_gpu_image(project: Project) -> None:
    text = render_dockerfile(config(project, gpu=True), [])
    lines = text.splitlines()
    assert f"FROM {CUDA_BASE_IMAGE}" in lines
    assert "python3 python3-venv" in text
    assert "ENV PATH=/opt/venv/bin:$PATH" in lines
    assert lines.index("RUN python3 -m venv /opt/venv") < lines.index(
        "RUN python3 -m pip install -r /opt/mlws/requirements.txt"
    )


def test_conda_image(project: Project) -> None:
    text = render_dockerfile(config(project, conda_packages=["numpy=1.26", "scipy"]), [])
    assert f"FROM {CONDA_BASE_IMAGE}" in text
    assert "micromamba install -y -n base -c conda-forge python=3.11 pip numpy=1.26 scipy" in text


def test_custom_base_image_is_used_as_is(project: Project) -> None:
    text = render_dockerfile(config(project, base_image="myacr.azurecr.io/base:1", gpu=True), [])
    assert "FROM myacr.azurecr.io/base:1" in text
    assert "venv" not in text


def test_user_variables_are_quoted_and_cannot_override_the_contract(project: Project) -> None:
    cfg = config(
        project, environment_variables={"GREETING": 'say "hi" $HOME', "OMP_NUM_THREADS": "1"}
    )
    text = render_dockerfile(cfg, [])
    assert 'ENV GREETING="say \\"hi\\" \\$HOME"' in text
    env = image_env(cfg, [])
    assert env["OMP_NUM_THREADS"] == "1"
    assert list(env)[:2] == ["GREETING", "OMP_NUM_THREADS"]


def test_rendering_is_deterministic(project: Project) -> None:
    a = render_dockerfile(
        config(project, apt_packages=["libb1", "liba1"]), models(project, ("m", 1))
    )
    b = render_dockerfile(
        config(project, apt_packages=["liba1", "libb1"]), models(project, ("m", 1))
    )
    assert a == b
    c = render_dockerfile(
        config(project, apt_packages=["liba1", "libb1"]), models(project, ("m", 2))
    )
    assert c != a


@pytest.mark.needs_r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs Rscript")
def test_the_cran_line_is_valid_r(project: Project) -> None:
    """Run the rendered ``Rscript -e`` line for a package that is already installed here."""
    cfg = config(project, entry_script="score.R", cran_packages=["graphics"])
    lines = render_dockerfile(cfg, []).splitlines()
    (line,) = [text for text in lines if text.startswith("RUN Rscript")]
    assert "install.packages(missing" in line
    argv = shlex.split(line.removeprefix("RUN "))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def _docker_unquote(word: str) -> str:
    """How BuildKit's shell lexer reads a double-quoted word (frontend/dockerfile/shell/lex.go):
    a backslash before ``"``, ``\\`` or ``$`` is dropped; an unescaped ``$`` would expand."""
    assert word.startswith('"')
    assert word.endswith('"')
    out, chars = "", iter(word[1:-1])
    for char in chars:
        if char == "\\":
            following = next(chars)
            out += following if following in '"\\$' else char + following
        else:
            assert char not in '"$', f"unescaped {char!r} in {word}"
            out += char
    return out


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"entry_script": "score.R", "cran_packages": ["caret"], "apt_packages": ["libgomp1"]},
        {"gpu": True},
        {"conda_packages": ["numpy=1.26"]},
        {"environment_variables": {"TRICKY": 'a "quoted" \\ $HOME ${X} é', "EMPTY": ""}},
        {"build": BuildOptions(ca_certificates=("proxy.crt",), base_image_digest=DIGEST)},
    ],
)
def test_buildkit_parses_the_dockerfile(project: Project, fields: dict[str, Any]) -> None:
    """BuildKit's own parser (the ``dockerfile`` package) reads every instruction as intended."""
    dockerfile = pytest.importorskip("dockerfile")
    build = fields.get("build")
    cfg = config(project, **{k: v for k, v in fields.items() if k != "build"})
    chosen = models(project, ("m", 1), ("n", 2))
    commands = dockerfile.parse_string(render_dockerfile(cfg, chosen, build))
    assert commands[0].cmd == "FROM"
    entrypoint = commands[-1]
    assert (entrypoint.cmd, entrypoint.json) == ("ENTRYPOINT", True)
    assert entrypoint.value == ("python3", "-m", "mlws.runtime")
    assert {c.cmd for c in commands} <= {
        "FROM",
        "USER",
        "ENV",
        "RUN",
        "COPY",
        "WORKDIR",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
    }
    (check,) = [c for c in commands if c.cmd == "HEALTHCHECK"]
    assert check.value == ("CMD", *HEALTHCHECK_COMMAND)
    env = {
        c.value[0]: _docker_unquote(c.value[1])
        for c in commands
        if c.cmd == "ENV" and len(c.value) == 2 and c.value[1].startswith('"')
    }
    assert env == image_env(cfg, chosen)
    runs = [c for c in commands if c.cmd == "RUN"]
    assert all("\n" not in " ".join(c.value) for c in runs)


def test_layers_go_from_least_to_most_often_changed(project: Project) -> None:
    """Dependencies before the runtime, the runtime before the models, the models before the
    script: a model-only change keeps every dependency layer (proven on a real engine in
    tests/images)."""
    lines = render_dockerfile(config(project, apt_packages=["libgomp1"]), models(project, ("a", 1)))
    order = [
        "RUN apt-get update \\",
        "COPY requirements.txt /opt/mlws/requirements.txt",
        "RUN python3 -m pip install -r /opt/mlws/requirements.txt",
        "COPY mlws /opt/mlws/mlws",
        f"COPY models {MODELS_ROOT}",
        "COPY app /var/azureml-app",
    ]
    indexes = [lines.splitlines().index(line) for line in order]
    assert indexes == sorted(indexes)


def test_healthcheck_runs_the_runtime_probe_without_curl(project: Project) -> None:
    text = render_dockerfile(config(project), [])
    (line,) = [x for x in text.splitlines() if x.startswith("HEALTHCHECK ")]
    assert line.endswith('CMD ["python3", "-m", "mlws.runtime.probe"]')
    assert "curl" not in text
    assert "--interval=10s" in line


def test_extra_ca_certificates_come_first(project: Project) -> None:
    build = BuildOptions(ca_certificates=("proxy.crt",))
    lines = render_dockerfile(config(project, apt_packages=["libgomp1"]), [], build).splitlines()
    copy = lines.index(f"COPY ca-certificates {CA_DIR}")
    assert copy < next(i for i, x in enumerate(lines) if x.startswith("RUN apt-get"))
    assert "update-ca-certificates" in lines[copy + 1]
    assert any(f"PIP_CERT={CA_BUNDLE}" in line for line in lines[copy + 1 : copy + 4])
    assert "ca-certificates" not in render_dockerfile(config(project), [])


def test_base_image_pinned_by_digest(project: Project) -> None:
    assert base_image(config(project), DIGEST) == f"python:3.11-slim@{DIGEST}"
    pinned = config(project, base_image="registry.local/py:3.12@sha256:" + "0" * 64)
    assert base_image(pinned, DIGEST) == f"registry.local/py:3.12@{DIGEST}"
    text = render_dockerfile(config(project), [], BuildOptions(base_image_digest=DIGEST))
    assert f"FROM python:3.11-slim@{DIGEST}" in text.splitlines()
