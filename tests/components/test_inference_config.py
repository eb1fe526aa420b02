"""Validation of the inference config, environment and models (no Pulumi)."""

from pathlib import Path

import pytest

from mlws.components.errors import ConfigError
from mlws.components.scoring_image import default_build_dir, parse_scoring_image
from tests.components.scoring_project import Project, make_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def test_defaults_and_inferred_language(project: Project) -> None:
    spec = parse_scoring_image("My_Model", project.image_args())
    assert spec.script_language == "python"
    assert spec.python_version == "3.11"
    assert spec.repository == "my-model"
    assert spec.push is False
    assert spec.target_platform is None
    assert parse_scoring_image("x", project.image_args(registry_server="r.io")).target_platform == (
        "linux/amd64"
    )
    assert spec.environment.pip_packages == ("numpy==2.1.3",)
    assert spec.models[0].version == 1
    assert spec.inference_config.entry_script == "score.py"

    r_spec = parse_scoring_image("r", project.image_args(entry_script="score.R"))
    assert r_spec.script_language == "r"


def test_version_strings_from_stack_config_are_accepted(project: Project) -> None:
    args = project.image_args(models=[{"name": "toy", "version": "3", "path": str(project.model)}])
    assert parse_scoring_image("x", args).models[0].version == 3


def test_every_problem_is_reported_at_once(project: Project) -> None:
    args = project.image_args(
        entry_script="missing.py",
        language="r",
        pip_packages=["-r requirements.txt"],
        apt_packages=["libgomp1; rm -rf /"],
        environment_variables={"AZUREML_MODEL_DIR": "/x", "bad name": "1"},
        python_version="2.7",
        models=[
            {"name": "toy", "version": 0, "path": str(project.model)},
            {"name": "toy", "path": str(project.root / "nope")},
        ],
    )
    with pytest.raises(ConfigError) as caught:
        parse_scoring_image("svc", args)
    fields = set(caught.value.fields)
    assert {
        "python_version",
        "pip_packages",
        "apt_packages",
        "environment_variables",
        "models[0].version",
        "models[1].path",
        "language",
        "entry_script",
    } <= fields
    assert str(caught.value).startswith("invalid ScoringImage 'svc': ")


def test_script_outside_source_directory_is_rejected(project: Project) -> None:
    with pytest.raises(ConfigError, match=r"entry_script: must be a path relative"):
        parse_scoring_image("svc", project.image_args(entry_script="../score.py"))
    with pytest.raises(ConfigError, match=r"entry_script: must be a \.py or \.R file"):
        parse_scoring_image("svc", project.image_args(entry_script="score.sh"))


def test_missing_source_directory(project: Project) -> None:
    with pytest.raises(ConfigError, match=r"source_directory: .* is not a folder"):
        parse_scoring_image("svc", project.image_args(source_directory=str(project.root / "x")))


def test_duplicate_models_are_rejected(project: Project) -> None:
    model = {"name": "toy", "version": 2, "path": str(project.model)}
    with pytest.raises(ConfigError, match=r"models\[1\]: toy version 2 is also models\[0\]"):
        parse_scoring_image("svc", project.image_args(models=[model, model]))


def test_unknown_argument_is_named(project: Project) -> None:
    with pytest.raises(ConfigError, match="pip: unknown argument"):
        parse_scoring_image("svc", project.image_args(pip=["x"]))


def test_conda_contradictions(project: Project) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scoring_image(
            "svc", project.image_args(conda_packages=["numpy=1.26"], base_image="ubuntu:24.04")
        )
    assert caught.value.fields == ("conda_packages",)


def test_registry_references_must_fit_together(project: Project) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scoring_image("svc", project.image_args(push=True, registry_username="u"))
    assert set(caught.value.fields) == {"registry_password", "registry_server"}


def test_repository_and_platform_are_checked(project: Project) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scoring_image("svc", project.image_args(repository="Bad Repo", platform="amd64"))
    assert set(caught.value.fields) == {"repository", "platform"}


def test_build_dir_must_be_mlws_own_folder(project: Project) -> None:
    (project.root / "docs").mkdir()
    (project.root / "docs" / "keep.md").write_text("mine")
    with pytest.raises(ConfigError, match=r"build_dir: .* is not empty and not mlws's folder"):
        parse_scoring_image("svc", project.image_args(build_dir=str(project.root / "docs")))
    with pytest.raises(ConfigError, match="build_dir: must not contain source_directory"):
        parse_scoring_image("svc", project.image_args(build_dir=str(project.root)))
    parse_scoring_image("svc", project.image_args(build_dir=str(project.root / "new")))


def test_default_build_dir_is_one_safe_folder() -> None:
    assert default_build_dir("diabetes") == ".mlws/build/diabetes"
    odd = default_build_dir("../team/x y")
    assert odd.startswith(".mlws/build/")
    assert "/" not in odd.removeprefix(".mlws/build/")
    assert ".." not in odd
    assert odd != default_build_dir("../team/x-y")
