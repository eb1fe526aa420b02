"""Baselines (d) and (e): the least a real Python server can do for this contract.

uvicorn + Starlette + orjson calling the model's ``predict`` directly on the event loop, nothing
else (no auth, no logging, no metrics): the practical limit for a model. With ``BENCH_CONSTANT=1``
it reads the body and answers a constant instead: the transport limit of the stack.

Run: ``BENCH_MODEL_FILE=model.joblib uvicorn minimal:app --workers 2`` (``--app-dir`` this folder).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CONSTANT_BODY = b"[0.0]"
_constant = os.environ.get("BENCH_CONSTANT") == "1"
_model: Any = None
if not _constant:
    import joblib

    _model = joblib.load(os.environ["BENCH_MODEL_FILE"])


async def score(request: Request) -> Response:
    """``POST /score`` with ``{"data": [[...]]}``."""
    body = await request.body()
    if _constant:
        return Response(CONSTANT_BODY, media_type="application/json")
    data = np.asarray(orjson.loads(body)["data"], dtype=np.float64)
    return Response(orjson.dumps(_model.predict(data).tolist()), media_type="application/json")


async def ready(request: Request) -> Response:
    """Readiness: the model was loaded at import."""
    return Response(b"ok")


app = Starlette(routes=[Route("/score", score, methods=["POST"]), Route("/ready", ready)])
