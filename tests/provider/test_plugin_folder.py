"""The plugin folder Pulumi runs: PulumiPlugin.yaml, requirements.txt, a thin __main__.py."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

PLUGIN = Path(__file__).resolve().parents[2] / "provider"


def test_pulumi_plugin_yaml_asks_for_pythons_pip_toolchain_and_venv() -> None:
    spec = yaml.safe_load((PLUGIN / "PulumiPlugin.yaml").read_text())
    assert spec["runtime"]["name"] == "python"
    assert spec["runtime"]["options"] == {"toolchain": "pip", "virtualenv": "venv"}


def test_requirements_install_this_repository_with_the_pulumi_sdks() -> None:
    lines = [
        line.strip()
        for line in (PLUGIN / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["-e ..[infra,runtime]"]
    assert (PLUGIN.parent / "pyproject.toml").is_file()


def test_main_is_thin() -> None:
    tree = ast.parse((PLUGIN / "__main__.py").read_text())
    assert len(tree.body) <= 3
    assert "from mlws.provider.host import main" in (PLUGIN / "__main__.py").read_text()


def test_no_plugin_module_shadows_the_standard_library() -> None:
    # `python provider/` puts provider/ first on sys.path: provider/resource.py would replace the
    # stdlib's `resource` for every library in the plugin process.
    clashes = [path.name for path in PLUGIN.glob("*.py") if path.stem in sys.stdlib_module_names]
    assert clashes == []


def test_print_schema_needs_no_engine() -> None:
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, str(PLUGIN), "--print-schema"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    schema = json.loads(done.stdout)
    assert schema["name"] == "mlws"
    assert "mlws:index:HealthGate" in schema["resources"]
