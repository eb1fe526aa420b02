"""``GET /swagger.json``: OpenAPI documents as azmlinfsrv builds them.

Versions ``2`` (alias ``2.0``, the default), ``3`` (alias ``3.0``) and ``3.1`` are offered, chosen
with ``?version=``. A document is read from the source directory when the user ships one
(``swagger.json`` or ``swagger2.json``, ``swagger3.json``, ``swagger3.1.json``), otherwise generated
from the script's ``inference_schema`` schemas (empty object schemas when ``run`` is
undecorated).
``SERVICE_NAME``, ``SERVICE_VERSION`` and ``SERVICE_PATH_PREFIX`` fill the title, version and paths.

Where azmlinfsrv's templates say more than its server does, the generated documents say what mlws's
server does (:class:`Access`): ``Bearer`` only on the operations that check it (none in no-auth
mode; ``/``, ``/live``, ``/ready`` never; ``/swagger.json`` only in token mode), the ``/score`` body
marked required when an empty one is refused, ``/swagger.json`` answering a JSON object, ``/``
answering text, and the ``/live`` and ``/ready`` probes listed.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}}
_BEARER = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "For example: Bearer abc123",
}
_HEALTH = "Simple health check endpoint to ensure the service is up at any given point."
_HEALTHY = "If service is up and running, this response will be returned with the content 'Healthy'"
_RUN = "Run web service's model and get the prediction output"
_PAYLOAD = "The input payload for executing the real-time machine learning service."
_LIVE = "Liveness: 200 while the server process runs."
_READY = "Readiness: 200 once init() finished and not every scoring thread is stuck, else 503."
_OK = "The service processed the input correctly and provided a result prediction, if applicable."
_FAILED = "The service failed to execute due to an error."
_STATUS = {"type": "object", "properties": {"status": {"type": "string"}}}
_SPEC = "The Swagger specification."


@dataclass(frozen=True)
class Access:
    """What the server checks, so the documents can say it: the HTTP layer fills it in."""

    score_auth: bool = True
    """``/score`` needs the ``Authorization`` header (key or token mode)."""
    swagger_auth: bool = False
    """``/swagger.json`` needs it too (token mode; public under key auth, as in Azure ML)."""
    body_required: bool = False
    """An empty ``POST /score`` body is refused (decorated scripts, ``MLWS_STRICT_JSON``)."""

    def security(self, needed: bool) -> dict[str, Any]:
        """The ``security`` member of an operation that needs auth when ``needed``."""
        return {"security": [{"Bearer": []}]} if needed else {}

    @property
    def any_auth(self) -> bool:
        return self.score_auth or self.swagger_auth


class SwaggerError(Exception):
    """The requested version is unknown or not available for this script (404)."""


@dataclass(frozen=True)
class ServiceInfo:
    """What the documents say about the service."""

    name: str = "ML service"
    version: str = "1.0"
    path_prefix: str = ""

    @classmethod
    def from_env(cls) -> ServiceInfo:
        """Read azmlinfsrv's ``SERVICE_NAME``, ``SERVICE_VERSION``, ``SERVICE_PATH_PREFIX``."""
        return cls(
            name=os.environ.get("SERVICE_NAME", "ML service"),
            version=os.environ.get("SERVICE_VERSION", "1.0"),
            path_prefix=os.environ.get("SERVICE_PATH_PREFIX", ""),
        )

    @property
    def prefix(self) -> str:
        return f"/{self.path_prefix.strip('/')}" if self.path_prefix else ""


def _info(service: ServiceInfo) -> dict[str, Any]:
    return {
        "title": service.name,
        "description": f"API specification for the Azure Machine Learning service {service.name}",
        "version": service.version,
    }


def _swagger_operation(
    access: Access, version_type: dict[str, Any], ok: dict[str, Any], error: dict[str, Any]
) -> dict[str, Any]:
    """``GET /swagger.json`` in either document; ``version_type``, ``ok`` and ``error`` are the
    parameter's type, the 200 answer and the error answer in that document's own shape."""
    version = {"name": "version", "in": "query", "required": False, **version_type}
    return {
        "get": {
            "operationId": "GetSwaggerSpec",
            "description": "Get the Swagger specification.",
            **access.security(access.swagger_auth),
            "parameters": [version],
            "responses": {"200": ok, "default": error},
        }
    }


def swagger2(
    service: ServiceInfo, inp: dict[str, Any], out: dict[str, Any], access: Access | None = None
) -> dict[str, Any]:
    """The OpenAPI 2.0 document (azmlinfsrv's ``swagger2_template.json`` filled in)."""
    access = access or Access()
    p = service.prefix
    error_ref = {"description": _FAILED, "schema": {"$ref": "#/definitions/ErrorResponse"}}

    def probe(operation_id: str, description: str) -> dict[str, Any]:
        return {
            "get": {
                "operationId": operation_id,
                "description": description,
                "responses": {
                    "200": {"description": "OK", "schema": _STATUS},
                    "default": error_ref,
                },
            }
        }

    return {
        "swagger": "2.0",
        "info": _info(service),
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        **({"securityDefinitions": {"Bearer": dict(_BEARER)}} if access.any_auth else {}),
        "paths": {
            f"{p}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": _HEALTH,
                    "produces": ["text/plain", "application/json"],
                    "responses": {
                        "200": {
                            "description": _HEALTHY,
                            "schema": {"type": "string"},
                            "examples": {"application/json": "Healthy"},
                        },
                        "default": error_ref,
                    },
                }
            },
            f"{p}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": _RUN,
                    **access.security(access.score_auth),
                    "parameters": [
                        {
                            "name": "serviceInputPayload",
                            "in": "body",
                            "description": _PAYLOAD,
                            "required": access.body_required,
                            "schema": {"$ref": "#/definitions/ServiceInput"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": _OK,
                            "schema": {"$ref": "#/definitions/ServiceOutput"},
                        },
                        "default": error_ref,
                    },
                }
            },
            f"{p}/swagger.json": _swagger_operation(
                access,
                {"type": "integer", "enum": [2, 3]},
                {"description": _SPEC, "schema": {"type": "object"}},
                error_ref,
            ),
            f"{p}/live": probe("ServiceLiveness", _LIVE),
            f"{p}/ready": probe("ServiceReadiness", _READY),
        },
        "definitions": {"ServiceInput": inp, "ServiceOutput": out, "ErrorResponse": _ERROR},
    }


def swagger3(
    service: ServiceInfo,
    inp: dict[str, Any],
    out: dict[str, Any],
    openapi: str = "3.0.3",
    access: Access | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.0 (or 3.1) document (azmlinfsrv's ``swagger3_template.json`` filled in)."""
    access = access or Access()
    p = service.prefix
    error_ref = {
        "description": _FAILED,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }

    def text(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"text/plain": {"schema": schema}}}

    def as_json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    def probe(operation_id: str, description: str) -> dict[str, Any]:
        return {
            "get": {
                "operationId": operation_id,
                "description": description,
                "responses": {"200": as_json("OK", _STATUS), "default": error_ref},
            }
        }

    schemes = {"securitySchemes": {"Bearer": dict(_BEARER)}} if access.any_auth else {}
    return {
        "openapi": openapi,
        "info": _info(service),
        "paths": {
            f"{p}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": _HEALTH,
                    "responses": {
                        "200": text(_HEALTHY, {"type": "string", "example": "Healthy"}),
                        "default": error_ref,
                    },
                }
            },
            f"{p}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": _RUN,
                    **access.security(access.score_auth),
                    "requestBody": {
                        "description": _PAYLOAD,
                        "required": access.body_required,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ServiceInput"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": _OK,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ServiceOutput"}
                                }
                            },
                        },
                        "default": error_ref,
                    },
                }
            },
            f"{p}/swagger.json": _swagger_operation(
                access,
                {"schema": {"type": "integer", "enum": [2, 3]}},
                as_json(_SPEC, {"type": "object"}),
                error_ref,
            ),
            f"{p}/live": probe("ServiceLiveness", _LIVE),
            f"{p}/ready": probe("ServiceReadiness", _READY),
        },
        "components": {
            "schemas": {"ServiceInput": inp, "ServiceOutput": out, "ErrorResponse": _ERROR},
            **schemes,
        },
    }


#: version -> (aliases, user file names tried in order)
_VERSIONS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "2": (frozenset({"2", "2.0"}), ("swagger.json", "swagger2.json")),
    "3": (frozenset({"3", "3.0"}), ("swagger3.json",)),
    "3.1": (frozenset({"3.1"}), ("swagger3.1.json",)),
}


class SwaggerDocs:
    """The documents of one script, serialised once; :meth:`get` picks one by ``?version=``."""

    def __init__(
        self,
        source_directory: Path,
        schemas: tuple[dict[str, Any] | None, dict[str, Any] | None],
        supported: frozenset[str],
        service: ServiceInfo | None = None,
        access: Access | None = None,
    ) -> None:
        service = service or ServiceInfo.from_env()
        if schemas == (None, None):  # azmlinfsrv: undecorated run() -> empty object schemas
            inp: dict[str, Any] = {"type": "object", "example": {}}
            out: dict[str, Any] = {"type": "object", "example": {}}
        else:
            inp = schemas[0] if schemas[0] is not None else {"type": "object"}
            out = schemas[1] if schemas[1] is not None else {"type": "object"}
        self._docs: dict[str, bytes] = {}
        self.versions: list[str] = []
        for version, (aliases, files) in _VERSIONS.items():
            doc = _read_user_file(source_directory, files)
            if doc is None and aliases & supported:
                if version == "2":
                    doc = swagger2(service, copy.deepcopy(inp), copy.deepcopy(out), access)
                else:
                    openapi = "3.1.0" if version == "3.1" else "3.0.3"
                    doc = swagger3(service, copy.deepcopy(inp), copy.deepcopy(out), openapi, access)
            if doc is not None:
                body = json.dumps(doc).encode()
                for alias in aliases:
                    self._docs[alias] = body
                self.versions.append(version)
        self.versions.sort()

    def get(self, version: str | None) -> bytes:
        """The serialised document for ``version`` (default ``2``); raises :class:`SwaggerError`."""
        version = "2" if version is None else version
        if not any(version in aliases for aliases, _ in _VERSIONS.values()):
            raise SwaggerError(
                f"Swagger version [{version}] is not valid. "
                f"Supported versions: [{', '.join(self.versions)}]."
            )
        body = self._docs.get(version)
        if body is None:
            raise SwaggerError(
                f"Swagger version [{version}] is not supported for the scoring script. "
                f"Supported swagger versions: [{', '.join(self.versions)}]."
            )
        return body


def _read_user_file(directory: Path, names: tuple[str, ...]) -> dict[str, Any] | None:
    for name in names:
        path = directory / name
        if path.is_file():
            loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return loaded
    return None
