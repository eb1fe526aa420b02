"""Call a deployed scoring service from Python, like the seed's ``invoke_webservice``.

>>> svc = ServiceOutputs.from_outputs(json.load(open("outputs.json")))
>>> invoke(svc, records_body(read_records(Path("newdata.csv"))))

:func:`authorization_for` picks the ``Authorization`` header for the service's auth mode (a key,
or a token :func:`mint_token` signs with the service's secret); :func:`read_records` turns a CSV
or JSON table into the list of row objects that R's ``jsonlite::toJSON(data.frame)`` sends.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Literal

import httpx

from mlws.service import ServiceError, ServiceOutputs
from mlws.tokens import DEFAULT_SUBJECT, DEFAULT_TTL_SECONDS, IssuedToken, issue_token

Record = dict[str, Any]


def authorization_for(
    service: ServiceOutputs,
    *,
    key: str | None = None,
    token: str | None = None,
    use_key: Literal["primary", "secondary"] = "primary",
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> str | None:
    """The ``Authorization`` header value to send, or None for a service without auth.

    An explicit ``token`` or ``key`` wins; otherwise key mode sends the ``use_key`` key from the
    outputs and token mode mints a token with the signing secret.
    """
    if token:
        return f"Bearer {token}"
    if key:
        return f"Bearer {key}"
    mode = service.effective_auth_mode
    if mode == "key":
        chosen = service.primary_key if use_key == "primary" else service.secondary_key
        if chosen is None:
            raise service.secret_missing(
                f"{use_key}_key",
                f"the service uses key auth but no {use_key} key is known: "
                f"export {use_key}_key from the stack or pass --key",
            )
        return f"Bearer {chosen.get_secret_value()}"
    if mode == "token":
        return f"Bearer {mint_token(service, ttl_seconds=ttl_seconds).access_token}"
    return None


def mint_token(
    service: ServiceOutputs,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    subject: str = DEFAULT_SUBJECT,
) -> IssuedToken:
    """A token the service accepts, signed with its secret and carrying its ``aud``/``iss``.

    Raises the service's missing-secret error (saying how to get a token instead) when no
    signing secret is known.
    """
    if service.token_secret is None:
        raise service.secret_missing("token_secret", missing_token_secret_message(service))
    return issue_token(
        service.token_secret.get_secret_value(),
        ttl_seconds=ttl_seconds,
        audience=service.token_audience,
        issuer=service.token_issuer,
        subject=subject,
    )


def missing_token_secret_message(service: ServiceOutputs) -> str:
    """Explain how to get a token when mlws cannot sign one (no secret, or an external issuer)."""
    if service.token_jwks_url:
        aud = f" for audience {service.token_audience!r}" if service.token_audience else ""
        return (
            f"this service accepts tokens from the issuer whose keys are at "
            f"{service.token_jwks_url}: get an access token{aud} from that issuer "
            "(e.g. its OAuth2 client-credentials flow, or `az account get-access-token "
            "--resource <audience>` for Entra ID) and pass it with --token"
        )
    return (
        "the service uses token auth but no signing secret is known: export token_secret "
        "from the stack, or pass --token-secret (or --token with a ready token)"
    )


def _cell(text: str) -> Any:
    """A CSV cell as JSON: numbers become numbers, empty cells null, the rest strings."""
    value = text.strip()
    if value == "" or value.upper() == "NA":
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def read_records(path: Path) -> list[Record]:
    """Read a table as a list of row objects (``jsonlite::toJSON(data.frame)``'s shape).

    ``.csv``: a header row then data rows; numbers are parsed as numbers, empty/``NA`` cells are
    null. ``.json``: a list of objects, one object, or an object of equal-length columns.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".json":
        return _read_json_table(path)
    raise ServiceError(f"--records takes a .csv or .json file, not {path.name!r}")


def _read_csv(path: Path) -> list[Record]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise ServiceError(f"{path.name}: the CSV file has no header row")
        names = [name.strip() for name in header]
        rows: list[Record] = []
        for number, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                raise ServiceError(
                    f"{path.name} line {number}: {len(row)} cells, the header has {len(names)}"
                )
            rows.append({name: _cell(cell) for name, cell in zip(names, row, strict=True)})
    if not rows:
        raise ServiceError(f"{path.name}: the CSV file has no data rows")
    return rows


def _read_json_table(path: Path) -> list[Record]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ServiceError(f"{path.name} is not JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {len(v) for v in data.values()}
        if len(lengths) != 1:
            raise ServiceError(f"{path.name}: the columns have different lengths")
        count = lengths.pop()
        return [{name: column[i] for name, column in data.items()} for i in range(count)]
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return data
    raise ServiceError(
        f"{path.name}: expected a list of row objects, one object, or an object of columns"
    )


def records_body(records: list[Record], wrap: str | None = None) -> bytes:
    """The request body for ``records``: a JSON array, or ``{wrap: [...]}``."""
    payload: Any = {wrap: records} if wrap else records
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def invoke(
    service: ServiceOutputs,
    body: bytes,
    *,
    authorization: str | None = None,
    timeout: float = 60.0,
    content_type: str = "application/json",
    deployment: str | None = None,
) -> httpx.Response:
    """POST ``body`` to the scoring URI and return the response (any status).

    ``deployment`` pins the request to one deployment of an endpoint (``AksEndpoint``) with the
    ``azureml-model-deployment`` header, as Azure ML's endpoints do.
    """
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    if deployment is not None:
        from mlws.components.aks_endpoint_config import DEPLOYMENT_HEADER

        headers[DEPLOYMENT_HEADER] = deployment
    return httpx.post(service.scoring_uri, content=body, headers=headers, timeout=timeout)


def server_message(response: httpx.Response) -> str:
    """The error message a server put in a response body (JSON ``error``/``message``/``detail``
    field, or the text)."""
    text = response.text
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip() or response.reason_phrase
    if isinstance(data, dict):
        for name in ("error", "message", "detail", "title"):
            value = data.get(name)
            if isinstance(value, str) and value:
                extra = data.get("request_id") or data.get("requestId")
                return f"{value} (request id {extra})" if isinstance(extra, str) else value
            if isinstance(value, dict):
                inner = value.get("message")
                if isinstance(inner, str) and inner:
                    return inner
    if isinstance(data, str) and data:
        return data
    return text.strip() or response.reason_phrase
