"""Baseline for the R model: one ``Rscript`` process per request, the way a naive wrapper serves R.

Each request starts ``Rscript score_once.R score.R``, which sources the script, runs ``init()`` and
scores the body read from stdin. At most ``os.cpu_count()`` Rscripts run at once; the rest queue
(without the cap, 64 concurrent R start-ups on 2 cores time out and the figure shows thrashing).

Environment: ``BENCH_R_SCRIPT`` (the score.R path) and ``AZUREML_MODEL_DIR``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

RUNNER = Path(__file__).with_name("score_once.R")
SCRIPT = Path(os.environ.get("BENCH_R_SCRIPT", "score.R")).resolve()
_slots = asyncio.Semaphore(os.cpu_count() or 1)


async def score(request: Request) -> Response:
    """``POST /score``: one Rscript run."""
    body = await request.body()
    async with _slots:
        proc = await asyncio.create_subprocess_exec(
            "Rscript",
            "--vanilla",
            str(RUNNER),
            str(SCRIPT),
            cwd=SCRIPT.parent,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate(body)
    if proc.returncode != 0:
        return Response(b'{"message": "Rscript failed"}', 500, media_type="application/json")
    return Response(out, media_type="application/json")


async def ready(request: Request) -> Response:
    """Readiness (nothing to load: every request starts from scratch)."""
    return Response(b"ok")


app = Starlette(routes=[Route("/score", score, methods=["POST"]), Route("/ready", ready)])
