"""Reading Pulumi.yaml and stack config like the Pulumi CLI does (no Pulumi needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlws.render.errors import ProjectError
from mlws.render.model import SECRET as SECRET_PLACEHOLDER
from mlws.render.project import (
    load_project,
    load_stack_config,
    parse_overrides,
)


def _project(tmp_path: Path, yaml_text: str, main: str | None = "__main__.py") -> Path:
    tmp_path.joinpath("Pulumi.yaml").write_text(yaml_text)
    if main is not None:
        path = tmp_path / main
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return tmp_path


def test_python_project_runs_main_py_in_its_folder(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, "name: app\nruntime: python\n"))
    assert project.name == "app"
    assert project.entry == (tmp_path / "__main__.py").resolve()
    assert project.work_dir == tmp_path.resolve()


def test_runtime_may_be_a_mapping_with_options(tmp_path: Path) -> None:
    text = "name: app\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n"
    assert load_project(_project(tmp_path, text)).name == "app"


def test_main_folder_becomes_the_working_directory(tmp_path: Path) -> None:
    # As the CLI's getPwdMain: a folder `main` is the program's cwd; config stays at the root.
    _project(
        tmp_path, "name: app\nruntime: python\nmain: examples/local\n", "examples/local/__main__.py"
    )
    project = load_project(tmp_path)
    assert project.work_dir == (tmp_path / "examples/local").resolve()
    assert project.entry == (tmp_path / "examples/local/__main__.py").resolve()
    assert project.root == tmp_path


def test_main_file_runs_that_file_from_its_folder(tmp_path: Path) -> None:
    _project(tmp_path, "name: app\nruntime: python\nmain: src/prog.py\n", "src/prog.py")
    project = load_project(tmp_path)
    assert project.entry.name == "prog.py"
    assert project.work_dir == (tmp_path / "src").resolve()


@pytest.mark.parametrize(
    ("yaml_text", "main", "message"),
    [
        (
            "name: app\nruntime: nodejs\n",
            "index.js",
            "runtime is 'nodejs'; mlws render runs Python",
        ),
        ("runtime: python\n", "__main__.py", "'name' is missing"),
        ("name: app\n", "__main__.py", "'runtime' is missing"),
        ("name: app\nruntime: python\n", None, "__main__.py does not exist"),
        ("name: app\nruntime: python\nmain: ../elsewhere\n", None, "must be a sub-folder"),
        ("name: app\nruntime: python\nmain: /abs\n", None, "must be a relative path"),
        ("name: [app\n", None, "is not valid YAML (line"),
        ("- a list\n", None, "must be a mapping"),
    ],
)
def test_bad_projects_get_one_line_errors(
    tmp_path: Path, yaml_text: str, main: str | None, message: str
) -> None:
    with pytest.raises(ProjectError, match=r"^[^\n]*$") as info:
        load_project(_project(tmp_path, yaml_text, main))
    assert message in str(info.value)


def test_missing_pulumi_yaml(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no Pulumi\.yaml in .*: not a Pulumi project"):
        load_project(tmp_path)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="is not a folder"):
        load_project(tmp_path / "nope")


def test_stack_config_merges_defaults_stack_file_and_overrides(tmp_path: Path) -> None:
    _project(
        tmp_path,
        "name: app\nruntime: python\nconfig:\n"
        "  replicas:\n    type: integer\n    default: 2\n"
        "  region: westeurope\n"
        "  apiKey:\n    type: string\n    secret: true\n",
    )
    tmp_path.joinpath("Pulumi.dev.yaml").write_text(
        "config:\n"
        "  app:replicas: 3\n"
        "  app:gpu: true\n"
        "  app:tags:\n    team: ml\n"
        "  app:apiKey:\n    secure: v1:abcdef\n"
        "  azure-native:location: northeurope\n"
    )
    project = load_project(tmp_path)
    config = load_stack_config(project, "dev", parse_overrides(["region=eastus", "app:x=a=b"]))
    assert config.values == {
        "app:replicas": "3",
        "app:region": "eastus",
        "app:gpu": "true",
        "app:tags": '{"team":"ml"}',
        "app:apiKey": SECRET_PLACEHOLDER,
        "app:x": "a=b",
        "azure-native:location": "northeurope",
    }
    assert config.secret_keys == {"app:apiKey"}
    assert config.shown()["app:apiKey"] == "[secret]"


def test_secure_value_nested_in_an_object_makes_the_key_secret(tmp_path: Path) -> None:
    _project(tmp_path, "name: app\nruntime: python\n")
    tmp_path.joinpath("Pulumi.dev.yaml").write_text(
        "config:\n  app:registry:\n    user: bob\n    password:\n      secure: v1:xyz\n"
    )
    config = load_stack_config(load_project(tmp_path), "dev")
    assert config.secret_keys == {"app:registry"}
    assert "v1:xyz" not in config.values["app:registry"]
    assert config.shown() == {"app:registry": "[secret]"}


def test_missing_stack_file_means_defaults_only(tmp_path: Path) -> None:
    _project(tmp_path, "name: app\nruntime: python\n")
    config = load_stack_config(load_project(tmp_path), "prod", {"size": "2"})
    assert config.values == {"app:size": "2"}


def test_override_of_a_secret_key_stays_secret(tmp_path: Path) -> None:
    _project(tmp_path, "name: app\nruntime: python\n")
    tmp_path.joinpath("Pulumi.dev.yaml").write_text("config:\n  app:pw:\n    secure: v1:x\n")
    config = load_stack_config(load_project(tmp_path), "dev", {"pw": "hunter2"})
    assert config.values["app:pw"] == "hunter2"
    assert config.shown() == {"app:pw": "[secret]"}


@pytest.mark.parametrize("bad", ["novalue", "=x", "  =x"])
def test_bad_overrides(bad: str) -> None:
    with pytest.raises(ProjectError, match="expected KEY=VALUE"):
        parse_overrides([bad])
