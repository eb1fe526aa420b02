"""Scan what mlws deploys with checkov as a platform team would: Kubernetes objects, Dockerfiles.

checkov (PyPI, an infrastructure-as-code security scanner) is installed into its own venv under
``~/.cache/mlws/tool-venvs/`` (``tests/tool_venvs.py``; once, reused while the pinned version is
unchanged): its many exact pins would otherwise fight mlws's own. What is scanned:

* every Kubernetes object each example registers, from ``mlws render`` (in-process, under mocks)
  of each of its stacks: exactly the inputs pulumi-kubernetes would send;
* the pure builders' objects (``k8s_manifests.manifests`` and the NVIDIA device plugin) for
  configurations the examples do not reach (key auth, TLS behind an Ingress, external issuer, ...);
* the Dockerfile each example's ``ScoringImage`` generates (the render writes the build context).

``python -m tests.security.checkov_scan`` (from the repository root) prints the summary per object
kind (passed, failed, skipped) and every failed check.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CHECKOV_VERSION = "3.3.30"
#: Examples written as Python programs (``mlws render`` runs those); yaml-aci is read directly.
KUBERNETES_PREFIX = "kubernetes:"


class CheckovUnavailable(RuntimeError):
    """checkov could not be installed (the message says why)."""


def ensure_checkov() -> Path:
    """The checkov executable of its tool venv (``tool_venvs``), installing it when needed."""
    from tests.tool_venvs import ToolVenvError, tool_venv

    try:
        return tool_venv("checkov", [f"checkov=={CHECKOV_VERSION}"]) / "bin" / "checkov"
    except ToolVenvError as error:
        raise CheckovUnavailable(str(error)) from error


def python_examples() -> list[Path]:
    """Example folders holding a Python Pulumi program."""
    return sorted(p.parent for p in EXAMPLES.glob("*/__main__.py"))


def stacks(example: Path) -> list[str]:
    """The stacks an example ships config for (``Pulumi.<stack>.yaml``)."""
    return sorted(p.name.split(".")[1] for p in example.glob("Pulumi.*.yaml"))


def _named(manifest: dict[str, Any], fallback: str) -> dict[str, Any]:
    """The manifest with a name (Pulumi autonames some objects; checkov wants one)."""
    metadata = dict(manifest.get("metadata") or {})
    metadata.setdefault("name", fallback)
    return {**manifest, "metadata": metadata}


@dataclass
class Scanned:
    """What one scan covers: Kubernetes objects per file, and Dockerfiles."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Objects by the YAML file (one per example stack or builder case) they are written to."""
    dockerfiles: dict[str, str] = field(default_factory=dict)
    """Dockerfile texts by a name saying where they come from."""

    def write(self, directory: Path) -> None:
        """Lay the objects and Dockerfiles out for ``checkov -d directory``."""
        for name, objects in self.objects.items():
            path = directory / "kubernetes" / f"{name}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        for name, text in self.dockerfiles.items():
            path = directory / "dockerfiles" / name / "Dockerfile"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


#: Stacks that read their image from another stack through a StackReference, which has no
#: outputs under mocks: offline they render with the image pinned, as docs/promotion.md says.
PINNED_IMAGE = "mlwspromotiondev.azurecr.io/diabetes@sha256:" + "b" * 64
PROMOTED_STACKS = {("promotion", "staging"), ("promotion", "prod")}


def rendered_example(example: Path, stack: str) -> tuple[list[dict[str, Any]], Path | None]:
    """Kubernetes objects of ``example``'s ``stack`` under mocks, and its build context, if any."""
    from mlws.render import render_program

    overrides = {"imageRef": PINNED_IMAGE} if (example.name, stack) in PROMOTED_STACKS else {}
    render = render_program(example, stack, overrides=overrides)
    objects = [
        _named(dict(resource.inputs), resource.name)
        for resource in render.resources
        if resource.custom
        and resource.type.startswith(KUBERNETES_PREFIX)
        and "kind" in resource.inputs
    ]
    context: Path | None = None
    for resource in render.of_type("docker:index/image:Image"):
        build = resource.inputs.get("build")
        if isinstance(build, dict) and isinstance(build.get("context"), str):
            context = example / build["context"]
    return objects, context


def yaml_example_dockerfile(example: Path) -> str:
    """The Dockerfile of a Pulumi YAML example's ScoringImage, from its literal properties."""
    from mlws.components.dockerfile import render_dockerfile
    from mlws.components.inference_config import InferenceConfig, Model

    program = yaml.safe_load((example / "Pulumi.yaml").read_text())
    (props,) = [
        r["properties"]
        for r in program["resources"].values()
        if r.get("type") == "mlws:index:ScoringImage"
    ]
    snake = {"entryScript": "entry_script", "sourceDirectory": "source_directory"}
    settings = {
        snake.get(key, key.replace("Packages", "_packages")): value
        for key, value in props.items()
        if key in ("entryScript", "sourceDirectory", "pipPackages")
    }
    settings["source_directory"] = str(example / settings["source_directory"])
    models = [
        Model(name=m["name"], version=m["version"], path=example / m["path"])
        for m in props.get("models", [])
    ]
    return render_dockerfile(InferenceConfig(**settings), models)


def builder_cases() -> dict[str, list[dict[str, Any]]]:
    """Objects of the pure builders for configurations beyond the examples'."""
    from mlws.components.aks_cluster_spec import GpuNodePoolConfig, nvidia_device_plugin
    from mlws.components.deployment_config import AksDeploymentConfig
    from mlws.components.k8s_manifests import manifests

    image = "myacr.azurecr.io/accidents@sha256:" + "a" * 64
    secrets = {"primary_key": "p" * 32, "secondary_key": "s" * 32, "token_secret": "t" * 32}
    base = {"service_name": "accidents", "namespace": "scoring", "create_namespace": True}
    cases: dict[str, dict[str, Any]] = {
        "key-auth-load-balancer": {},
        "token-external-issuer": {
            "token_auth_enabled": True,
            "token_jwks_url": "https://login.example.com/keys",
            "token_audience": "api",
        },
        "tls-ingress-fixed-replicas": {
            "ssl_enabled": True,
            "ssl_cname": "ml.example.com",
            "num_replicas": 3,
            "allowed_ingress_namespaces": ["monitoring"],
        },
        "gpu-writable-paths-egress": {
            "gpu_cores": 1,
            "writable_paths": ["/var/cache/model"],
            "egress_cidrs": ["10.0.0.0/16"],
        },
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for name, settings in cases.items():
        config = AksDeploymentConfig(**base, **settings)
        objects = manifests(
            config,
            image=image,
            secret_values=secrets,
            tls_certificate="-----BEGIN CERTIFICATE-----",
            tls_key="-----BEGIN PRIVATE KEY-----",
        )
        out[f"builder-{name}"] = list(objects.values())
    out["builder-nvidia-device-plugin"] = [nvidia_device_plugin(GpuNodePoolConfig())]
    return out


def everything() -> Scanned:
    """Every example's objects and Dockerfiles, plus the builder cases."""
    scanned = Scanned(objects=builder_cases())
    for example in python_examples():
        for stack in stacks(example):
            objects, context = rendered_example(example, stack)
            if objects:
                scanned.objects[f"{example.name}-{stack}"] = objects
            if context is not None and (context / "Dockerfile").is_file():
                scanned.dockerfiles[f"{example.name}-{stack}"] = (
                    context / "Dockerfile"
                ).read_text()
    for program in sorted(EXAMPLES.glob("*/Pulumi.yaml")):
        if yaml.safe_load(program.read_text()).get("runtime") == "yaml":
            scanned.dockerfiles[program.parent.name] = yaml_example_dockerfile(program.parent)
    return scanned


@dataclass(frozen=True)
class Finding:
    """One check on one object: its outcome, kind and where it came from."""

    check_id: str
    outcome: str
    """``passed``, ``failed`` or ``skipped``."""
    kind: str
    """Kubernetes kind, or ``Dockerfile``."""
    resource: str
    file: str
    name: str
    comment: str = ""
    """The reason given for a skip."""


def run_checkov(checkov: Path, directory: Path) -> list[Finding]:
    """Run checkov over ``directory`` (offline) and return every finding."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_UPDATE_CHECK": "1"}
    result = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(directory),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--output",
            "json",
            "--compact",
            "--skip-download",
            "--skip-results-upload",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=1200,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed ({result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    findings: list[Finding] = []
    for report in reports if isinstance(reports, list) else [reports]:
        dockerfile = report.get("check_type") == "dockerfile"
        for outcome in ("passed", "failed", "skipped"):
            for check in report["results"].get(f"{outcome}_checks", []):
                findings.append(_finding(check, outcome, dockerfile=dockerfile))
    return findings


def _finding(check: dict[str, Any], outcome: str, *, dockerfile: bool) -> Finding:
    resource = str(check.get("resource", ""))
    kind = "Dockerfile" if dockerfile else resource.split(".")[0]
    skip = check.get("check_result", {}).get("suppress_comment", "") or ""
    return Finding(
        check_id=str(check["check_id"]),
        outcome=outcome,
        kind=kind,
        resource=resource,
        file=str(check.get("file_path", "")),
        name=str(check.get("check_name", "")),
        comment=str(skip),
    )


def summary(findings: Iterable[Finding]) -> dict[str, dict[str, int]]:
    """``{kind: {passed, failed, skipped}}``, kinds sorted."""
    table: dict[str, dict[str, int]] = {}
    for finding in findings:
        row = table.setdefault(finding.kind, {"passed": 0, "failed": 0, "skipped": 0})
        row[finding.outcome] += 1
    return dict(sorted(table.items()))


def summary_lines(findings: list[Finding]) -> Iterator[str]:
    """The summary table, then each failed and skipped check, as text lines."""
    rows = summary(findings)
    yield f"{'kind':<26}{'passed':>8}{'failed':>8}{'skipped':>9}"
    for kind, row in rows.items():
        yield f"{kind:<26}{row['passed']:>8}{row['failed']:>8}{row['skipped']:>9}"
    totals = {k: sum(r[k] for r in rows.values()) for k in ("passed", "failed", "skipped")}
    yield f"{'total':<26}{totals['passed']:>8}{totals['failed']:>8}{totals['skipped']:>9}"
    for finding in findings:
        if finding.outcome != "passed":
            note = f" ({finding.comment})" if finding.comment else ""
            yield f"{finding.outcome}: {finding.check_id} {finding.resource} {finding.file}{note}"


def main() -> int:
    """Scan everything and print the summary; exit 1 when a check fails."""
    import tempfile

    checkov = ensure_checkov()
    with tempfile.TemporaryDirectory(prefix="mlws-checkov-") as tmp:
        scanned = everything()
        scanned.write(Path(tmp))
        findings = run_checkov(checkov, Path(tmp))
    for line in summary_lines(findings):
        print(line)
    return 1 if any(f.outcome == "failed" for f in findings) else 0


if __name__ == "__main__":
    raise SystemExit(main())
