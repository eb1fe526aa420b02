"""Profile one mlws worker under wrk load with py-spy: where the event loop's time goes.

``.venv/bin/python -m benchmarks.profile [--model ridge] [--concurrency 16] [--seconds 8]``

Starts ``mlws serve`` with one worker and the benchmark's settings (key auth, request log, metrics),
drives it with wrk and samples the supervisor and its worker with ``py-spy record --gil`` (only
the thread holding the GIL, so idle waits do not count). Prints the functions holding the GIL
most, by own time and including callees. py-spy is installed into ``build/bench/venvs/tools`` on
first use.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from benchmarks.models import prepare
from benchmarks.procs import running
from benchmarks.run import BUILD_DIR, log, verify
from benchmarks.systems import launch
from benchmarks.wrk import run_wrk


def py_spy() -> Path:
    """The py-spy executable (installed into the tools venv when missing)."""
    venv = BUILD_DIR / "venvs" / "tools"
    exe = venv / "bin" / "py-spy"
    if not exe.exists():
        log("installing py-spy into build/bench/venvs/tools ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return exe


def _frame_name(frame: str) -> str:
    """``func (path/file.py:123)`` -> ``func (file.py)``, so lines of one function add up."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})" if where else name


def summarize(raw: str, top: int = 25) -> str:
    """Own and inclusive shares of py-spy's collapsed stacks (``frame;frame;... count`` lines)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if total == 0:
        return "no samples"
    lines = [f"{total} samples holding the GIL", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top + 15)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the profile and print its summary."""
    parser = argparse.ArgumentParser(prog="benchmarks.profile", description=__doc__)
    parser.add_argument("--model", default="ridge")
    parser.add_argument("--system", default="mlws", help="mlws or mlws-batch")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("benchmarks.profile: wrk is missing: install it (Debian: apt-get install wrk)")
        return 2
    spy = py_spy()
    model = prepare(args.model, BUILD_DIR)
    spec = launch(args.system, model, BUILD_DIR, log)
    spec.server.env["MLWS_WORKERS"] = "1"  # one process to sample
    out = BUILD_DIR / "profile.txt"
    body_file = BUILD_DIR / "bodies" / f"profile-{model.name}.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_bytes(spec.body)

    def load(seconds: float) -> None:
        result = run_wrk(
            spec.url,
            body_file=body_file,
            connections=args.concurrency,
            duration_s=seconds,
            authorization=spec.authorization,
        )
        log(f"{result.rps:,.0f} req/s, p99 {result.p99_ms:.2f} ms, errors {result.errors}")

    with running(spec.server):
        verify(spec, model)
        assert spec.server.process is not None
        load(2)
        loader = threading.Thread(target=load, args=(args.seconds + 2,))
        loader.start()
        # The launched process is the supervisor; --subprocesses samples its worker too.
        record = ["record", "--pid", str(spec.server.process.pid), "--subprocesses"]
        record += ["--gil", "--nonblocking"]
        options = ["--duration", str(args.seconds), "--rate", "500", "--format", "raw"]
        subprocess.run(
            [str(spy), *record, *options, "--output", str(out)],
            check=True,
            capture_output=True,
        )
        loader.join()
    print(summarize(out.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
