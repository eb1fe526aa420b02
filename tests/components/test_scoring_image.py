"""ScoringImage under Pulumi mocks: graph, tag = content hash, push by digest, secrets, diffs."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental.analyzer import Analyzer

from mlws.components.build_context import plan_context, write_context
from mlws.components.dockerfile import base_image
from mlws.components.errors import ConfigError
from mlws.components.inference_config import EnvironmentArgs, InferenceConfigArgs
from mlws.components.scoring_image import ScoringImage, ScoringImageArgs, parse_scoring_image
from mlws.mocks import MockHarness, diff_programs
from mlws.provider.schema_builder import args_type, field_docstrings
from mlws.provider.wire import to_snake
from tests.components.scoring_project import Project, make_project
from tests.docker_support import DockerEngine, require_base_image

IMAGE = "docker:index/image:Image"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def image_program(project: Project, **overrides: Any) -> Callable[[], None]:
    def program() -> None:
        image = ScoringImage("toy", project.image_args(**overrides))
        pulumi.export("image_ref", image.image_ref)
        pulumi.export("tag", image.tag)
        pulumi.export("digest", image.digest)

    return program


def test_local_image_graph(pulumi_mocks: MockHarness, project: Project) -> None:
    recording = pulumi_mocks.run(image_program(project))
    component = recording.named("toy", "mlws:index:ScoringImage")
    (image,) = recording.children(component)
    assert image.type == IMAGE
    assert image.name == "toy-image"
    tag = parse_scoring_image("toy", project.image_args()).plan().tag
    assert image.inputs["imageName"] == f"toy:{tag}"
    assert image.inputs["skipPush"] is True
    assert image.inputs["build"] == {"context": str(project.build)}  # host platform
    assert "registry" not in image.inputs
    assert recording.stack_outputs == {"image_ref": f"toy:{tag}", "tag": tag, "digest": tag}
    assert (project.build / "Dockerfile").is_file()
    assert len(recording) == 2


def test_pushed_image_is_referenced_by_digest(pulumi_mocks: MockHarness, project: Project) -> None:
    password = "registry-password-123"
    recording = pulumi_mocks.run(
        image_program(
            project,
            registry_server="myacr.azurecr.io",
            registry_username="myacr",
            registry_password=password,
            repository="team/accidents",
        )
    )
    image = recording.named("toy-image")
    name = image.inputs["imageName"]
    assert name.startswith("myacr.azurecr.io/team/accidents:")
    assert image.inputs["skipPush"] is False
    assert image.inputs["registry"]["server"] == "myacr.azurecr.io"
    assert image.inputs["build"]["platform"] == "linux/amd64"
    assert "registry" in image.secret_paths  # the SDK marks the whole object secret
    ref = recording.stack_outputs["image_ref"]
    assert ref.startswith("myacr.azurecr.io/team/accidents@sha256:")
    assert recording.stack_outputs["digest"] == ref.rpartition("@")[2]
    assert password not in json.dumps(recording.to_json())


def test_unchanged_inputs_give_no_diff(project: Project) -> None:
    diff, before, _ = diff_programs(lambda _: image_program(project), 1, 1)
    assert not diff, str(diff)
    assert len(before) == 2


def test_new_model_version_changes_only_the_image_name(project: Project) -> None:
    def program(version: int) -> Callable[[], None]:
        model = {"name": "toy", "version": version, "path": str(project.model)}
        return image_program(project, models=[model])

    diff, before, after = diff_programs(program, 1, 2)
    assert diff.updated == {"toy-image": ("imageName",)}
    assert not diff.created
    assert not diff.deleted
    assert before.stack_outputs["tag"] != after.stack_outputs["tag"]


def test_model_bytes_change_the_tag(pulumi_mocks: MockHarness, project: Project) -> None:
    first = pulumi_mocks.run(image_program(project)).stack_outputs["tag"]
    (project.model / "model.txt").write_text("retrained\n")
    second = pulumi_mocks.run(image_program(project)).stack_outputs["tag"]
    assert first != second


def test_invalid_args_fail_before_anything_is_registered(
    pulumi_mocks: MockHarness, project: Project
) -> None:
    with pytest.raises(ConfigError) as caught:
        pulumi_mocks.run(image_program(project, entry_script="nope.py", push=True))
    assert set(caught.value.fields) == {"entry_script", "registry_server"}
    assert pulumi_mocks.mocks.registrations == []


def test_args_extend_the_inference_config_fields_with_their_docs() -> None:
    """ScoringImageArgs extends InferenceConfigArgs; the schema takes the inherited fields' docs
    from there (the plugin's schema checks every input is documented)."""
    full = ScoringImageArgs.__annotations__
    docs = field_docstrings(ScoringImageArgs)
    for field, hint in InferenceConfigArgs.__annotations__.items():
        assert full[field] == hint, field
        assert docs[field] == field_docstrings(InferenceConfigArgs)[field], field
    assert set(EnvironmentArgs.__annotations__) <= set(docs)
    assert all(docs.get(field) for field in full)
    schema = Analyzer("mlws").analyze([ScoringImage])
    inputs = schema["component_definitions"]["ScoringImage"].inputs
    assert inputs["registryPassword"].plain is None  # an Input: may be a secret Output
    assert inputs["entryScript"].optional is False
    assert inputs["pipPackages"].plain is True  # known at preview, validated there


@pytest.mark.needs_docker
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_docker_builds_the_local_example_image(docker_engine: DockerEngine, tmp_path: Path) -> None:
    example = REPO_ROOT / "examples" / "local-sklearn"
    spec = parse_scoring_image(
        "local-sklearn",
        {
            "entry_script": "score.py",
            "source_directory": str(example / "scoring"),
            "pip_packages": ["scikit-learn==1.7.2", "joblib", "numpy"],
            "models": [{"name": "diabetes", "version": 1, "path": str(example / "model")}],
            "build_dir": str(tmp_path / "context"),
        },
    )
    reason = require_base_image(docker_engine, base_image(spec.inference_config))
    if reason:
        pytest.skip(reason)
    context = plan_context(spec.inference_config, spec.models)
    write_context(context, spec.build_dir)
    tag = f"mlws-test/local-sklearn:{context.tag}"
    docker_engine.run("build", "-t", tag, str(spec.build_dir), timeout=1500)
    done = docker_engine.run(
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        tag,
        "-c",
        "import mlws.runtime, os; print(os.environ['AZUREML_MODEL_DIR'])",
    )
    assert done.stdout.strip() == "/var/azureml-app/azureml-models/diabetes/1"


def test_schema_of_the_three_components() -> None:
    """What the provider plugin serves: every input and output documented; references are
    Inputs (not plain), settings are plain (validated at preview); no extra types but ModelArgs."""
    from mlws.components.local_web_service import LocalWebService
    from mlws.components.service_keys import ServiceKeys

    schema = Analyzer("mlws").analyze([ScoringImage, ServiceKeys, LocalWebService])
    assert set(schema["type_definitions"]) == {"ModelArgs"}
    references = {
        "ScoringImage": {"registryServer", "registryUsername", "registryPassword"},
        "ServiceKeys": set(),
        "LocalWebService": {"image", "primaryKey", "secondaryKey", "tokenSecret"},
    }
    classes: dict[str, type] = {c.__name__: c for c in (ScoringImage, ServiceKeys, LocalWebService)}
    for name, component in schema["component_definitions"].items():
        assert component.description, name
        # Fields of base args classes get their docs in the plugin's schema (schema_builder).
        inherited = field_docstrings(args_type(classes[name]))
        for key, prop in component.inputs.items():
            assert prop.description or inherited.get(to_snake(key)), f"{name}.{key}"
            assert (prop.plain is None) == (key in references[name]), f"{name}.{key}"
        for key, prop in component.outputs.items():
            assert prop.description, f"{name}.{key}"
    outputs = schema["component_definitions"]["ServiceKeys"].outputs
    assert outputs["tokenSecret"].optional is True


def test_an_unwritable_build_dir_is_a_config_error(
    pulumi_mocks: MockHarness, project: Project
) -> None:
    blocked = project.model / "model.txt" / "build"
    with pytest.raises(ConfigError, match=r"build_dir: cannot write .*: Not a directory"):
        pulumi_mocks.run(image_program(project, build_dir=str(blocked)))
    assert pulumi_mocks.mocks.registrations == []


def test_ca_certificate_and_digest_problems_name_their_field(project: Project) -> None:
    good = project.root / "a" / "proxy.pem"
    good.parent.mkdir()
    good.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    twin = project.root / "proxy.crt"
    twin.write_text(good.read_text())
    junk = project.root / "junk.crt"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as caught:
        parse_scoring_image(
            "toy",
            project.image_args(
                ca_certificates=[
                    str(good),
                    str(project.root / "missing.crt"),
                    str(junk),
                    str(twin),
                ],
                base_image="python:3.12-slim@sha256:" + "0" * 64,
                base_image_digest="sha256:" + "1" * 64,
            ),
        )
    text = str(caught.value)
    assert set(caught.value.fields) == {
        "ca_certificates[1]",
        "ca_certificates[2]",
        "ca_certificates[3]",
        "base_image_digest",
    }
    assert "No such file or directory" in text
    assert "holds no PEM certificate" in text
    assert "same file name 'proxy.crt' as ca_certificates[0]" in text
    with pytest.raises(ConfigError, match="base_image_digest"):
        parse_scoring_image("toy", project.image_args(base_image_digest="latest"))
    spec = parse_scoring_image("toy", project.image_args(ca_certificates=[str(good)]))
    assert spec.ca_certificates == (good,)
