"""What the R model's workers compute alone, with no server: the ceiling for any R server.

``servers/r_call_cost.R`` sources ``score.R``, runs ``init()`` and times many calls of the returned
function on the benchmark's request body. Running ``k`` copies at once (one per R worker a server
has busy at ``k`` connections) gives the requests per second ``k`` R processes can compute on this
machine at that moment, cores shared as they are under load. A server in front of them can only
lose to that figure: its own parsing, auth and logging take CPU from the same cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.models import BenchModel
from benchmarks.report import Row

COST_SCRIPT = Path(__file__).resolve().parent / "servers" / "r_call_cost.R"
SYSTEM = "r-alone"
"""The rows' system name: the R workers alone, no HTTP."""


class RCostError(RuntimeError):
    """The R cost script failed; the message carries R's error output."""


@dataclass(frozen=True)
class RAlone:
    """``processes`` R processes timed at once."""

    processes: int
    seconds_per_call: float
    """The median of the processes' own per-call times."""
    rps: float
    """Calls per second of all processes together."""


def measure(model: BenchModel, processes: int, calls: int, body_file: Path) -> RAlone:
    """Time ``calls`` scoring calls in each of ``processes`` R processes running at once."""
    env = dict(os.environ, AZUREML_MODEL_DIR=str(model.model_dir))
    command = [
        "Rscript",
        "--vanilla",
        str(COST_SCRIPT),
        str(model.source_dir / model.entry_script),
        str(body_file),
        str(calls),
    ]
    procs = [
        subprocess.Popen(
            command,
            cwd=model.source_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    per_call: list[float] = []
    deadline = time.monotonic() + 600
    for proc in procs:
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        if proc.returncode != 0:
            raise RCostError(f"r_call_cost.R exited {proc.returncode}: {err.decode()[-1000:]}")
        per_call.append(float(json.loads(out)["seconds_per_call"]))
    per_call.sort()
    return RAlone(
        processes=processes,
        seconds_per_call=per_call[len(per_call) // 2],
        rps=sum(1.0 / s for s in per_call),
    )


def rows(
    model: BenchModel,
    concurrency: list[int],
    workers: int,
    calls: int,
    body_file: Path,
) -> tuple[list[Row], list[RAlone]]:
    """One ``r-alone`` row per concurrency level: ``min(c, workers)`` R processes timed at once.

    At ``c`` connections a server with ``workers`` R processes has at most ``min(c, workers)``
    of them busy, so that is what its ceiling is measured with.
    """
    by_processes: dict[int, RAlone] = {}
    out: list[Row] = []
    for c in concurrency:
        k = min(c, workers)
        if k not in by_processes:
            by_processes[k] = measure(model, k, calls, body_file)
        alone = by_processes[k]
        ms = alone.seconds_per_call * 1000
        out.append(
            Row(
                SYSTEM,
                model.name,
                c,
                round(alone.rps, 1),
                round(ms, 3),
                round(ms, 3),
                0,
                round(os.getloadavg()[0], 2),
                cpu_us=round(alone.seconds_per_call * 1e6, 1),
            )
        )
    return out, list(by_processes.values())
