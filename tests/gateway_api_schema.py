"""Validate Gateway API objects against the OpenAPI schemas of the Gateway API CRDs.

The CRDs come from the Go module proxy (``go mod download sigs.k8s.io/gateway-api@VERSION``,
Apache-2.0, the project's own release files) and are cached in ``~/.cache/mlws/gateway-api``;
nothing is vendored. Validation is strict, like ``kubernetes_validate``'s: an object schema
with ``properties`` rejects unknown fields (the API server would prune them silently). The
CRDs' CEL rules (``x-kubernetes-validations``) are not evaluated here; the tests check the
constraints mlws relies on by hand.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

#: The Gateway API release whose standard channel mlws writes (``gateway.networking.k8s.io/v1``).
GATEWAY_API_VERSION = "v1.6.3"
MODULE = "sigs.k8s.io/gateway-api"
CACHE = Path(os.environ.get("MLWS_CACHE", Path.home() / ".cache" / "mlws")) / "gateway-api"
CRD_FILES = {
    "Gateway": "gateway.networking.k8s.io_gateways.yaml",
    "HTTPRoute": "gateway.networking.k8s.io_httproutes.yaml",
}


def crd_dir(version: str = GATEWAY_API_VERSION) -> Path:
    """The standard-channel CRD folder of ``version``, fetched once through ``go mod download``;
    skips the test (saying why) when Go or the module proxy is unavailable."""
    target = CACHE / version / "standard"
    if all((target / name).is_file() for name in CRD_FILES.values()):
        return target
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs Go to fetch the Gateway API CRDs from the module proxy")
    try:
        found = subprocess.run(
            [go, "mod", "download", "-json", f"{MODULE}@{version}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot fetch {MODULE}@{version} from the Go module proxy: {error}")
    source = Path(json.loads(found.stdout)["Dir"]) / "config" / "crd" / "standard"
    target.mkdir(parents=True, exist_ok=True)
    for name in CRD_FILES.values():
        shutil.copyfile(source / name, target / name)
    return target


def _strict(schema: Any) -> Any:
    """``schema`` with unknown fields rejected wherever the object lists its properties."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def schema(kind: str, api_version: str = "gateway.networking.k8s.io/v1") -> dict[str, Any]:
    """The strict OpenAPI schema of ``kind`` at ``api_version``, from its CRD."""
    crd = yaml.safe_load((crd_dir() / CRD_FILES[kind]).read_text())
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group
    (found,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert found["served"], f"{api_version} {kind} is not served by {GATEWAY_API_VERSION}"
    return _strict(found["schema"]["openAPIV3Schema"])  # type: ignore[no-any-return]


def validate(manifest: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``manifest`` fits its CRD's schema."""
    jsonschema.validate(manifest, schema(manifest["kind"], manifest["apiVersion"]))
