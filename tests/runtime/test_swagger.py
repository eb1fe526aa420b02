"""OpenAPI documents: versions, aliases, schemas, user files, service info."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlws.runtime.swagger import ServiceInfo, SwaggerDocs, SwaggerError

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
