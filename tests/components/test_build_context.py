"""Build-context planning and hashing (pure), writing, and a self-contained runtime copy."""

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mlws.components.build_context import (
    TAG_LENGTH,
    BuildContext,
    runtime_requirements,
    write_context,
)
from mlws.components.dockerfile import image_env
from mlws.components.scoring_image import ScoringImageSpec, parse_scoring_image
from tests.components.scoring_project import Project, make_project
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def spec(project: Project, **overrides: Any) -> ScoringImageSpec:
    return parse_scoring_image("toy", project.image_args(**overrides))


def plan(project: Project, **overrides: Any) -> BuildContext:
    return spec(project, **overrides).plan()


def test_layout(project: Project) -> None:
    context = plan(project)
    paths = context.paths
    assert paths == sorted(paths)
    assert {
        "Dockerfile",
        "requirements.txt",
        "mlws/__init__.py",
        "mlws/runtime/__init__.py",
        "mlws/runtime/__main__.py",
        "mlws/runtime/settings.py",
        "app/score.py",
        "app/score.R",
        "app/helper.py",
        "models/toy/1/model.txt",
    } <= set(paths)
    assert not [p for p in paths if "__pycache__" in p or p.endswith(".pyc")]
    requirements = context.get("requirements.txt").read().decode()
    assert requirements.endswith("# pip_packages\nnumpy==2.1.3\n")
    assert context.tag == context.digest[:TAG_LENGTH]


def test_runtime_requirements_are_the_runtime_extra_without_pulumi() -> None:
    names = " ".join(runtime_requirements())
    assert "uvicorn" in names
    assert "starlette" not in names  # the app is pure ASGI (docs/runtime.md)
    assert "prometheus-client" not in names
    assert "pydantic-settings" in names
    assert "pulumi" not in names
    assert "scikit-learn" not in names
    for cli_only in ("typer", "httpx", "ruamel"):  # the CLI's, not the server's
        assert cli_only not in names


def test_the_runtime_extra_repeats_the_cores_pins_it_needs() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {_name(spec): spec for spec in project["dependencies"]}
    for spec in project["optional-dependencies"]["runtime"]:
        if _name(spec) in core:
            versions = re.sub(r"\[.*?\]", "", spec)  # the extra may ask for more of a package
            assert versions == core[_name(spec)], f"runtime's {spec!r} pins unlike the core's"
    assert {"pydantic", "pydantic-settings"} <= {
        _name(spec) for spec in project["optional-dependencies"]["runtime"]
    }


def _name(spec: str) -> str:
    return re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0].lower()


# Every module of mlws.runtime imports with the CLI's packages made unimportable: an image, which
# installs only the runtime extra, has none of them.
_WITHOUT_CLI_PACKAGES = """
import importlib, importlib.abc, pkgutil, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"typer", "rich", "httpx", "ruamel", "pulumi"}:
            raise ImportError(f"{name} is not in a scoring image")
        return None

sys.meta_path.insert(0, Refuse())
import mlws.runtime
for module in pkgutil.walk_packages(mlws.runtime.__path__, "mlws.runtime."):
    importlib.import_module(module.name)
print("ok")
"""


def test_the_runtime_imports_none_of_the_clis_packages() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CLI_PACKAGES],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_same_inputs_same_digest(project: Project) -> None:
    assert plan(project).digest == plan(project).digest


def test_model_bytes_script_version_and_dependencies_change_the_digest(project: Project) -> None:
    before = plan(project).digest
    digests = {before}

    (project.model / "model.txt").write_text("toy-v2\n")
    digests.add(plan(project).digest)
    (project.source / "score.py").write_text("def init():\n    pass\n")
    digests.add(plan(project).digest)
    model = {"name": "toy", "version": 2, "path": str(project.model)}
    digests.add(plan(project, models=[model]).digest)
    digests.add(plan(project, models=[model], pip_packages=["numpy==2.1.2"]).digest)
    (project.model / "model.txt").chmod(0o755)
    digests.add(plan(project, models=[model], pip_packages=["numpy==2.1.2"]).digest)
    assert len(digests) == 6


def test_timestamps_and_unrelated_files_do_not_change_the_digest(project: Project) -> None:
    before = plan(project).digest
    for path in (project.model / "model.txt", project.source / "score.py"):
        os.utime(path, (1_000_000, 1_000_000))
    (project.root / "notes.txt").write_text("not part of the image")
    (project.source / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"more junk")
    (project.source / ".git").mkdir()
    (project.source / ".git" / "HEAD").write_text("ref: main")
    assert plan(project).digest == before


def test_a_model_file_keeps_its_name(project: Project) -> None:
    file_model = {"name": "single", "version": 4, "path": str(project.model / "model.txt")}
    assert "models/single/4/model.txt" in plan(project, models=[file_model]).paths


def test_several_models_each_get_name_and_version(project: Project) -> None:
    models = [
        {"name": "a", "version": 1, "path": str(project.model)},
        {"name": "a", "version": 2, "path": str(project.model)},
        {"name": "b", "path": str(project.model)},
    ]
    paths = plan(project, models=models).paths
    assert {"models/a/1/model.txt", "models/a/2/model.txt", "models/b/1/model.txt"} <= set(paths)


def test_build_folder_inside_the_source_is_not_copied(project: Project) -> None:
    build = project.source / ".build"
    context = plan(project, build_dir=str(build))
    write_context(context, build)
    again = plan(project, build_dir=str(build))
    assert not [p for p in again.paths if p.startswith("app/.build")]
    assert again.digest == context.digest


def test_write_context_matches_the_plan_and_is_incremental(project: Project) -> None:
    context = plan(project)
    write_context(context, project.build)
    for item in context.files:
        assert (project.build / item.path).read_bytes() == item.read()
    dockerfile = project.build / "Dockerfile"
    os.utime(dockerfile, (1_000_000, 1_000_000))
    (project.build / "stale.txt").write_text("left over")

    write_context(plan(project), project.build)
    assert dockerfile.stat().st_mtime == 1_000_000  # unchanged content is not rewritten
    assert not (project.build / "stale.txt").exists()

    (project.model / "model.txt").write_text("toy-v2\n")
    write_context(plan(project), project.build)
    assert (project.build / "models/toy/1/model.txt").read_text() == "toy-v2\n"


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.slow
def test_the_context_serves_with_its_own_runtime_copy(project: Project, tmp_path: Path) -> None:
    """Run ``python -m mlws.runtime`` from the written context, with the image's environment
    mapped to the context's folders: the runtime copy is self-contained and the model layout
    matches what the entry script reads from AZUREML_MODEL_DIR."""
    image = spec(project)
    write_context(image.plan(), project.build)
    ctx = project.build
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = dict(os.environ)
    for name, value in image_env(image.inference_config, image.models).items():
        env[name] = value.replace("/var/azureml-app/azureml-models", str(ctx / "models")).replace(
            "/var/azureml-app", str(ctx / "app")
        )
    port = free_port()
    env.update({"PYTHONPATH": str(ctx), "MLWS_HOST": "127.0.0.1", "MLWS_PORT": str(port)})

    probe = subprocess.run(
        [sys.executable, "-c", "import mlws.runtime; print(mlws.runtime.__file__)"],
        env=env,
        cwd=outside,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(ctx)

    server = subprocess.Popen(
        [sys.executable, "-m", "mlws.runtime"],
        env=env,
        cwd=outside,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/ready")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.2)
        if status != 200:
            server.kill()
            output, _ = server.communicate()
            pytest.fail(f"the runtime did not get ready: {output.decode()[-2000:]}")
        status, body = _get(f"http://127.0.0.1:{port}/score", b'{"x": 1}')
        assert status == 200
        assert json.loads(body) == {"model": "toy-v1", "echo": {"x": 1}}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def test_write_context_refuses_a_foreign_folder(project: Project) -> None:
    (project.build).mkdir()
    (project.build / "precious.txt").write_text("not mlws's")
    with pytest.raises(ValueError, match="not empty and was not written by mlws"):
        write_context(plan(project, build_dir=str(project.root / "elsewhere")), project.build)
    assert (project.build / "precious.txt").read_text() == "not mlws's"


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_ca_certificates_go_into_the_context_and_the_digest(project: Project) -> None:
    pem = project.root / "corp-proxy.pem"
    pem.write_text(PEM)
    without = plan(project)
    context = plan(project, ca_certificates=[str(pem)])
    assert "ca-certificates/corp-proxy.crt" in context.paths
    assert context.get("ca-certificates/corp-proxy.crt").read() == PEM.encode()
    assert b"COPY ca-certificates" in context.get("Dockerfile").read()
    assert context.tag != without.tag
    pem.write_text(PEM.replace("MIIB", "MIIC"))
    assert plan(project, ca_certificates=[str(pem)]).tag != context.tag


def test_a_pinned_base_image_digest_changes_the_tag(project: Project) -> None:
    digest = "sha256:" + "1" * 64
    pinned = plan(project, base_image_digest=digest)
    assert f"FROM python:3.11-slim@{digest}".encode() in pinned.get("Dockerfile").read()
    assert pinned.tag != plan(project).tag
