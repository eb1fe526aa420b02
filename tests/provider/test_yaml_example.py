"""YAML programs checked statically against the plugin's schema (no Azure, no Pulumi CLI).

``examples/yaml-aci/Pulumi.yaml``, and the program ``test_plugin_pulumi_cli.py`` runs under the CLI
(so that test's program is checked here even where the CLI is missing). See ``yaml_program_check``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import proto

from tests.provider.plugin_harness import Plugin
from tests.provider.test_plugin_pulumi_cli import _program as cli_program
from tests.provider.yaml_program_check import check_program

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "yaml-aci"


@pytest.fixture(scope="module")
def schema(plugin: Plugin) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        plugin.stub.GetSchema(proto.GetSchemaRequest(version=0)).schema
    )
    return loaded


@pytest.fixture(scope="module")
def program() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    return loaded


def test_the_program_uses_the_plugin_from_this_repository(program: dict[str, Any]) -> None:
    assert program["runtime"] == "yaml"
    plugin_dir = (EXAMPLE / program["packages"]["mlws"]).resolve()
    assert plugin_dir == REPO / "provider"
    assert (plugin_dir / "PulumiPlugin.yaml").is_file()


def test_example_matches_the_schema(program: dict[str, Any], schema: dict[str, Any]) -> None:
    types = {r["type"] for r in program["resources"].values()}
    assert types >= {
        "mlws:index:ServiceKeys",
        "mlws:index:ScoringImage",
        "mlws:index:AciWebService",
    }
    assert check_program(program, schema) == []


def test_the_cli_tests_program_matches_the_schema(schema: dict[str, Any]) -> None:
    program = yaml.safe_load(cli_program(REPO / "provider", 8890, '{"data": [1]}'))
    assert check_program(program, schema) == []


def test_the_checker_finds_mistakes(program: dict[str, Any], schema: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(program))
    svc = broken["resources"]["svc"]["properties"]
    svc["cpuCore"] = 1  # typo
    svc["memoryGb"] = "${rg.name}"  # a resource output into a plain input
    del svc["image"]  # required
    broken["resources"]["image"]["properties"]["models"][0]["version"] = "one"
    broken["outputs"]["bad"] = "${svc.scoringUrl}"
    problems = check_program(broken, schema)
    assert len(problems) == 5, problems
    assert any("'cpuCore' is not an input" in p for p in problems)
    assert any("memoryGb is plain" in p for p in problems)
    assert any("required input 'image' missing" in p for p in problems)
    assert any("version: 'one' is not a integer" in p for p in problems)
    assert any("no output 'scoringUrl'" in p for p in problems)
