"""The real Pulumi engine for tests: found or built by ``scripts/pulumi-engine``, run in isolation.

``engine_bin()`` returns the folder holding ``pulumi`` and its language hosts, building it through
the project's script when it is not there yet (a warm cache answers in about a second), or skips
the test with the script's reason where it cannot run (no Go toolchain, the proxy refuses a module).
``PulumiProject`` runs the CLI against a throw-away local file backend with a passphrase secrets
provider and its own ``PULUMI_HOME``; plugin acquisition and update checks are off, so a missing
plugin fails at once instead of reaching for the network.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "pulumi-engine"
VERSIONS = REPO / "scripts" / "engine" / "versions"

UNAVAILABLE_PROVIDERS = (
    "the pulumi-random and pulumi-docker provider plugins cannot be built here: the Go module "
    "proxy serves no version of github.com/pulumi/pulumi-random/provider/v4 or "
    "github.com/pulumi/pulumi-docker/provider/v5 (their release commits' pseudo-versions answer "
    "403 'This module version is not available'; see docs/engine.md)"
)
"""Why tests whose programs create random or docker resources skip under the real engine."""

UNBUILDABLE_PROVIDERS = frozenset({"random", "docker"})
"""The provider plugins ``scripts/pulumi-engine`` cannot build here (why: above)."""

OPTIONAL_PROVIDERS = {
    "kubernetes": "scripts/pulumi-engine left it out (MLWS_ENGINE_KUBERNETES=0) or its build "
    "failed (its output says which)"
}
"""Provider plugins that can be left out of the engine, and why one may be missing."""


def engine_versions() -> dict[str, str]:
    """The versions ``scripts/pulumi-engine`` builds (``scripts/engine/versions``)."""
    pairs = (
        line.split("=", 1)
        for line in VERSIONS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


@functools.cache
def _build() -> tuple[Path | None, str]:
    if shutil.which("go") is None:
        return (
            None,
            "no Go toolchain on PATH: scripts/pulumi-engine builds the engine from Go modules",
        )
    done = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=3600, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        return None, f"scripts/pulumi-engine failed: {errors[-1] if errors else done.stderr[-500:]}"
    return Path(lines[-1]), ""


def engine_bin() -> Path:
    """The engine's folder (built on first use), or skip the test saying why it cannot be had."""
    folder, reason = _build()
    if folder is None:
        pytest.skip(reason)
    return folder


def require_providers(*names: str) -> None:
    """Skip the test, saying why, unless ``pulumi-resource-NAME`` is there for every name."""
    search = os.pathsep.join([str(engine_bin()), os.environ.get("PATH", "")])
    missing = [
        name for name in names if shutil.which(f"pulumi-resource-{name}", path=search) is None
    ]
    if missing:
        plugins = ", ".join(f"pulumi-resource-{name}" for name in missing)
        if UNBUILDABLE_PROVIDERS.intersection(missing):
            why = UNAVAILABLE_PROVIDERS
        else:
            why = "; ".join(
                OPTIONAL_PROVIDERS.get(name, "scripts/pulumi-engine did not build it")
                for name in missing
            )
        pytest.skip(f"needs {plugins}: {why}")


def mlws_plugin(root: Path) -> Path:
    """provider/ as Pulumi would run it, but in this virtualenv instead of provider/venv (so no
    ``pip install`` runs): a plugin folder for ``packages: mlws: <folder>``."""
    plugin = root / "mlws-plugin"
    plugin.mkdir()
    shutil.copy(REPO / "provider" / "__main__.py", plugin / "__main__.py")
    venv = Path(sys.executable).parent.parent
    (plugin / "PulumiPlugin.yaml").write_text(
        f"runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {venv}\n"
    )
    return plugin


class PulumiProject:
    """One Pulumi program folder run by the real CLI, with state and plugins kept under ``root``."""

    def __init__(self, root: Path, program: Path) -> None:
        self.root = root
        self.program = program
        engine = engine_bin()
        path = os.pathsep.join([str(engine), str(Path(sys.executable).parent), os.environ["PATH"]])
        (root / "state").mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PATH": path,
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "mlws-test-passphrase",
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

    def run(
        self, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """``pulumi ARGS --non-interactive`` in the program's folder; fails the test on error."""
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.program,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def outputs(self) -> dict[str, Any]:
        """The stack's outputs, secrets shown."""
        loaded: dict[str, Any] = json.loads(
            self.run("stack", "output", "--json", "--show-secrets").stdout
        )
        return loaded

    def export(self) -> dict[str, Any]:
        """``pulumi stack export``: the state as stored."""
        loaded: dict[str, Any] = json.loads(self.run("stack", "export").stdout)
        return loaded

    def resources(self) -> list[dict[str, Any]]:
        """The stack's resources, the stack itself left out."""
        found = self.export()["deployment"].get("resources") or []
        return [r for r in found if r["type"] != "pulumi:pulumi:Stack"]
