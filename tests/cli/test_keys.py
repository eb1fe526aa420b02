"""``mlws keys`` (show, rotate) and the stack-file edit behind ``rotate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlws.service import PRIMARY_KEY_ROTATION, SECONDARY_KEY_ROTATION, ServiceError
from mlws.stack_config import bump_config_value, next_trigger, project_name, stack_file
from tests.cli.cli_helpers import Served, assert_one_line_error, run_cli

STACK_YAML = """\
# Stack settings for the accidents service (dev).
encryptionsalt: v1:abc:v1:def
config:
  azure-native:location: westeurope   # nearest region
  accidents:primaryKeyRotation: "3"   # bumped 2026-11-01
  accidents:secondaryKeyRotation: '7'
  accidents:image:
    tag: latest
  accidents:password:
    secure: v1:Zm9vYmFy
# trailing comment stays
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: accidents  # the project\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(STACK_YAML)
    return tmp_path


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    pairs = list(zip(before.splitlines(), after.splitlines(), strict=True))
    return [(a, b) for a, b in pairs if a != b]


def test_rotate_primary_changes_only_that_line(project: Path) -> None:
    result = run_cli("keys", "rotate", "--key", "primary", "--stack-dir", str(project))
    assert result.exit_code == 0, result.stderr
    after = (project / "Pulumi.dev.yaml").read_text()
    assert _changed_lines(STACK_YAML, after) == [
        (
            '  accidents:primaryKeyRotation: "3"   # bumped 2026-11-01',
            '  accidents:primaryKeyRotation: "4"   # bumped 2026-11-01',
        )
    ]
    assert "accidents:primaryKeyRotation 3 -> 4" in result.stdout
    assert "secondary key" in result.stdout


def test_rotate_secondary_keeps_its_quote_style(project: Path) -> None:
    result = run_cli(
        "keys", "rotate", "--key", "secondary", "--stack-dir", str(project), "--stack", "dev"
    )
    assert result.exit_code == 0, result.stderr
    after = (project / "Pulumi.dev.yaml").read_text()
    assert _changed_lines(STACK_YAML, after) == [
        ("  accidents:secondaryKeyRotation: '7'", "  accidents:secondaryKeyRotation: '8'")
    ]
    config = yaml.safe_load(after)["config"]
    assert config["accidents:secondaryKeyRotation"] == "8"
    assert config["accidents:primaryKeyRotation"] == "3"


def test_rotate_adds_a_missing_trigger_inside_the_config_block(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: svc\n")
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text("config:\n    svc:replicas: 3 # three\n\nother: 1\n")
    result = run_cli("keys", "rotate", "--key", "secondary", "--stack-dir", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert stack.read_text() == (
        'config:\n    svc:replicas: 3 # three\n    svc:secondaryKeyRotation: "1"\n\nother: 1\n'
    )


def test_rotate_creates_the_stack_file_for_a_named_stack(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: svc\n")
    result = run_cli(
        "keys", "rotate", "--key", "primary", "--stack-dir", str(tmp_path), "--stack", "o/svc/qa"
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "Pulumi.qa.yaml").read_text() == 'config:\n  svc:primaryKeyRotation: "1"\n'


def test_rotate_refuses_a_stack_the_folder_does_not_have(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: svc\n")
    for stack in ("dev", "prod"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    result = run_cli(
        "keys", "rotate", "--key", "primary", "--stack-dir", str(tmp_path), "--stack", "staging"
    )
    assert_one_line_error(result, "no Pulumi.staging.yaml", "(stacks here: dev, prod)")
    assert not (tmp_path / "Pulumi.staging.yaml").exists()


def test_keys_of_a_url_ask_for_the_stack_not_claim_no_auth(key_service: Served) -> None:
    line = assert_one_line_error(run_cli("keys", key_service.url))
    assert "auth mode 'none'" not in line
    assert "name the service with --stack STACK or --outputs FILE" in line


def test_rotate_keeps_crlf_line_endings(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: svc\n")
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_bytes(b"config:\r\n  svc:primaryKeyRotation: 9\r\n  svc:x: y\r\n")
    assert (
        run_cli("keys", "rotate", "--key", "primary", "--stack-dir", str(tmp_path)).exit_code == 0
    )
    assert stack.read_bytes() == b'config:\r\n  svc:primaryKeyRotation: "10"\r\n  svc:x: y\r\n'


def test_bump_handles_an_empty_flow_config_and_no_config() -> None:
    edit = bump_config_value("config: {}\n", "p:primaryKeyRotation")
    assert edit.text == 'config:\n  p:primaryKeyRotation: "1"\n'
    edit = bump_config_value("encryptionsalt: x", "p:primaryKeyRotation", "abc")
    assert edit.text == 'encryptionsalt: x\nconfig:\n  p:primaryKeyRotation: "abc"\n'


def test_bump_refuses_a_secret_value() -> None:
    with pytest.raises(ServiceError, match="not a plain value"):
        bump_config_value(STACK_YAML, "accidents:password")


def test_next_trigger() -> None:
    assert next_trigger(None) == "1"
    assert next_trigger("41") == "42"
    assert next_trigger("2026-01-01").endswith("Z")


def test_rotation_config_keys_are_the_contract() -> None:
    assert (PRIMARY_KEY_ROTATION, SECONDARY_KEY_ROTATION) == (
        "primaryKeyRotation",
        "secondaryKeyRotation",
    )


def test_project_name_and_stack_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"no Pulumi\.yaml"):
        project_name(tmp_path)
    (tmp_path / "Pulumi.a.yaml").write_text("")
    (tmp_path / "Pulumi.b.yaml").write_text("")
    with pytest.raises(ServiceError, match="several stack files"):
        stack_file(tmp_path, None)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--key", "tertiary"], ["--key must be primary or secondary"]),
        (["--key", "primary", "--stack-dir", "/nonexistent/x"], ["no Pulumi.yaml"]),
        (["--key", "primary", "--value", " "], ["--value must not be empty"]),
    ],
)
def test_rotate_errors_are_one_line(project: Path, args: list[str], fragments: list[str]) -> None:
    if "--stack-dir" not in args:
        args = [*args, "--stack-dir", str(project)]
    assert_one_line_error(run_cli("keys", "rotate", *args), *fragments)
    assert (project / "Pulumi.dev.yaml").read_text() == STACK_YAML


def _outputs(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "scoringUri": "http://127.0.0.1:1/score",
                "primaryKey": "pk-abcdef",
                "secondaryKey": "sk-123456",
            }
        )
    )
    return path


def test_keys_are_hidden_unless_show(tmp_path: Path) -> None:
    hidden = run_cli("keys", str(_outputs(tmp_path)))
    assert hidden.exit_code == 0, hidden.stderr
    assert "pk-abcdef" not in hidden.stdout
    assert "sk-123456" not in hidden.stdout
    assert "hidden, 9 characters" in hidden.stdout
    shown = run_cli("keys", "--outputs", str(_outputs(tmp_path)), "--show", "--json")
    assert json.loads(shown.stdout) == {"primary_key": "pk-abcdef", "secondary_key": "sk-123456"}


def test_keys_show_subcommand_is_the_default(tmp_path: Path) -> None:
    assert (
        run_cli("keys", "show", str(_outputs(tmp_path))).stdout
        == run_cli("keys", str(_outputs(tmp_path))).stdout
    )


def test_keys_of_a_service_without_keys(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text('{"scoring_uri": "http://h/score"}')
    assert_one_line_error(run_cli("keys", str(path)), "no keys")


def test_rotate_warns_when_the_program_never_reads_the_trigger(project: Path) -> None:
    result = run_cli("keys", "rotate", str(project), "--key", "primary")
    assert result.exit_code == 0, result.stderr
    assert "warning: no program file" in result.stderr
    assert "'primaryKeyRotation'" in result.stderr


@pytest.mark.parametrize(
    "program",
    [
        'rotation = config.get("primaryKeyRotation")\n',
        "rotation = config.get(service.PRIMARY_KEY_ROTATION)\n",
    ],
)
def test_rotate_is_quiet_when_the_program_reads_the_trigger(project: Path, program: str) -> None:
    (project / "__main__.py").write_text(program)
    result = run_cli("keys", "rotate", str(project), "--key", "primary")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_rotate_takes_the_folder_once(project: Path) -> None:
    result = run_cli(
        "keys", "rotate", str(project), "--stack-dir", str(project / "x"), "--key", "primary"
    )
    assert_one_line_error(result, "give the project folder once")


def _example_stacks() -> list[Path]:
    examples = Path(__file__).parents[2] / "examples"
    return sorted(
        path
        for path in examples.glob("*/Pulumi.*.yaml")
        if PRIMARY_KEY_ROTATION in path.read_text(encoding="utf-8")
    )


@pytest.mark.parametrize(
    "stack", _example_stacks() or [None], ids=lambda p: f"{p.parent.name}/{p.name}" if p else "none"
)
@pytest.mark.parametrize("which", ["primary", "secondary"])
def test_rotate_on_the_bundled_examples(stack: Path | None, which: str, tmp_path: Path) -> None:
    """The examples follow the contract: rotating changes one line and their program reads it."""
    if stack is None:
        pytest.skip("no example stack has a rotation trigger yet")
    import shutil

    project = tmp_path / stack.parent.name
    shutil.copytree(stack.parent, project)
    before = (project / stack.name).read_text()
    name = stack.name.removeprefix("Pulumi.").removesuffix(".yaml")
    result = run_cli("keys", "rotate", str(project), "--key", which, "--stack", name)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no "program never reads the trigger" warning
    changed = _changed_lines(before, (project / stack.name).read_text())
    assert len(changed) == 1
    assert f"{which}KeyRotation" in changed[0][1]
