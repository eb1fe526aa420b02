"""OpenAPI documents: versions, aliases, schemas, user files, service info."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlws.runtime.swagger import Access, ServiceInfo, SwaggerDocs, SwaggerError

ALL = frozenset({"2.0", "3.0", "3.1"})


def test_aliases_and_default(tmp_path: Path) -> None:
    docs = SwaggerDocs(tmp_path, (None, None), ALL, ServiceInfo())
    assert json.loads(docs.get(None))["swagger"] == "2.0"
    assert docs.get("2.0") == docs.get("2")
    assert json.loads(docs.get("3.0"))["openapi"] == "3.0.3"
    assert json.loads(docs.get("3.1"))["openapi"] == "3.1.0"
    assert docs.versions == ["2", "3", "3.1"]


def test_versions_the_schemas_cannot_express_are_not_offered(tmp_path: Path) -> None:
    docs = SwaggerDocs(tmp_path, ({"type": "object"}, None), frozenset({"3.0", "3.1"}))
    with pytest.raises(SwaggerError, match=r"\[2\] is not supported .* versions: \[3, 3.1\]"):
        docs.get("2")


def test_schemas_and_service_info_fill_the_document(tmp_path: Path) -> None:
    inp = {"type": "object", "properties": {"data": {"type": "array"}}}
    info = ServiceInfo(name="diabetes", version="7", path_prefix="/api/")
    doc = json.loads(SwaggerDocs(tmp_path, (inp, None), ALL, info).get("3"))
    assert doc["components"]["schemas"]["ServiceInput"] == inp
    assert doc["components"]["schemas"]["ServiceOutput"] == {"type": "object"}
    assert doc["info"]["title"] == "diabetes"
    assert doc["info"]["version"] == "7"
    assert "/api/score" in doc["paths"]


def test_service_info_from_azure_ml_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_NAME", "svc")
    monkeypatch.setenv("SERVICE_PATH_PREFIX", "v1")
    info = ServiceInfo.from_env()
    assert (info.name, info.version, info.prefix) == ("svc", "1.0", "/v1")


def test_user_files_per_version(tmp_path: Path) -> None:
    (tmp_path / "swagger2.json").write_text('{"mine": 2}')
    (tmp_path / "swagger3.json").write_text('{"mine": 3}')
    docs = SwaggerDocs(tmp_path, (None, None), frozenset(), ServiceInfo())
    assert json.loads(docs.get("2")) == {"mine": 2}
    assert json.loads(docs.get("3.0")) == {"mine": 3}
    with pytest.raises(SwaggerError, match="not supported"):
        docs.get("3.1")


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, item in doc["paths"].items() for m, op in item.items()}


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_no_security_anywhere_in_no_auth_mode(tmp_path: Path, version: str) -> None:
    access = Access(score_auth=False, swagger_auth=False)
    doc = json.loads(SwaggerDocs(tmp_path, (None, None), ALL, ServiceInfo(), access).get(version))
    assert "security" not in json.dumps(doc).lower()
    assert "Bearer" not in json.dumps(doc)


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
@pytest.mark.parametrize(("swagger_auth", "secured"), [(False, {"POST /score"}), (True, None)])
def test_bearer_only_on_the_operations_that_check_it(
    tmp_path: Path, version: str, swagger_auth: bool, secured: set[str] | None
) -> None:
    access = Access(score_auth=True, swagger_auth=swagger_auth)
    doc = json.loads(SwaggerDocs(tmp_path, (None, None), ALL, ServiceInfo(), access).get(version))
    assert "security" not in doc  # no document-wide requirement: the probes are public
    ops = _operations(doc)
    expected = secured or {"POST /score", "GET /swagger.json"}
    assert {name for name, op in ops.items() if "security" in op} == expected
    assert {"GET /", "GET /live", "GET /ready"} <= set(ops) - expected
    schemes = doc["securityDefinitions"] if version == "2" else doc["components"]["securitySchemes"]
    assert schemes["Bearer"]["name"] == "Authorization"


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
@pytest.mark.parametrize("required", [True, False])
def test_score_body_required_as_the_server_requires_it(
    tmp_path: Path, version: str, required: bool
) -> None:
    access = Access(body_required=required)
    doc = json.loads(SwaggerDocs(tmp_path, (None, None), ALL, ServiceInfo(), access).get(version))
    score = doc["paths"]["/score"]["post"]
    body = score["parameters"][0] if version == "2" else score["requestBody"]
    assert body["required"] is required


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_documents_load_in_an_openapi_tool(tmp_path: Path, version: str) -> None:
    """schemathesis (tests/runtime/test_openapi_fuzz.py runs it over HTTP) reads every
    operation of every variant."""
    import schemathesis
    from schemathesis.core.result import Ok

    for access in (Access(), Access(score_auth=False), Access(swagger_auth=True)):
        docs = SwaggerDocs(tmp_path, (None, None), ALL, ServiceInfo(), access)
        schema = schemathesis.openapi.from_dict(json.loads(docs.get(version)))
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operations.append(result.ok())
        assert {f"{op.method.upper()} {op.path}" for op in operations} == {
            "GET /",
            "POST /score",
            "GET /swagger.json",
            "GET /live",
            "GET /ready",
        }
