"""Run the benchmark: ``bash benchmarks/run`` or ``.venv/bin/python -m benchmarks.run --help``.

For each selected model and system: start the server (bound to 127.0.0.1), check one answer is
right, then for each concurrency warm up and measure with wrk; stop the server whatever happens.
Prints a table and writes ``benchmarks/results/latest.{json,md}`` (plus a timestamped JSON copy).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from benchmarks import r_alone, report
from benchmarks.models import MODEL_NAMES, REPO, BenchModel, ModelUnavailable, prepare
from benchmarks.procs import Server, ServerError, group_cpu_by_command, http, running
from benchmarks.report import Row
from benchmarks.systems import (
    MLWS_R_PROCESSES,
    MLWS_READY_PATH,
    SYSTEMS,
    Launch,
    WrongAnswer,
    launch,
)
from benchmarks.wrk import WrkError, WrkResult, run_wrk

BUILD_DIR = REPO / "build" / "bench"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_SYSTEMS = tuple(SYSTEMS)
DEFAULT_CONCURRENCY = (1, 16, 64)


def log(message: str) -> None:
    """Progress to stderr, so stdout holds only the table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__)
    parser.add_argument(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help=f"comma-separated subset of: {', '.join(DEFAULT_SYSTEMS)}",
    )
    parser.add_argument(
        "--models", default=",".join(MODEL_NAMES), help=f"subset of: {', '.join(MODEL_NAMES)}"
    )
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, DEFAULT_CONCURRENCY)),
        help="wrk connections per level, comma-separated",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per level")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measurements per level, taken in turns (median)"
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--startup-runs", type=int, default=3, help="mlws start-ups timed (0 skips)"
    )
    parser.add_argument(
        "--r-calls",
        type=int,
        default=1000,
        help="calls timed per R process for the R-alone ceiling (0 skips it)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder")
    args = parser.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    for system in args.systems:
        if system not in SYSTEMS:
            parser.error(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
    for model in args.models:
        if model not in MODEL_NAMES:
            parser.error(f"unknown model {model!r}; choose from {', '.join(MODEL_NAMES)}")
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency needs positive integers")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.duration < 1 or args.warmup < 0:
        parser.error("--duration must be >= 1 and --warmup >= 0")
    return args


def _load1() -> float:
    return os.getloadavg()[0]


def verify(spec: Launch, model: BenchModel) -> None:
    """One request before load: right answer, and credentials enforced where the system has them."""
    headers = {"Content-Type": "application/json"}
    if spec.authorization:
        headers["Authorization"] = spec.authorization
    status, body = http("POST", spec.url, spec.body, headers)
    if status != 200:
        raise WrongAnswer(f"status {status}: {body[:300]!r}")
    spec.check(body, model.expected)
    if spec.unauthorized_status is not None:
        status, body = http("POST", spec.url, spec.body, {"Content-Type": "application/json"})
        if status != spec.unauthorized_status:
            raise WrongAnswer(f"without a key: status {status}, not {spec.unauthorized_status}")


@dataclass
class ServerStats:
    """Per-server facts beside the load figures."""

    system: str
    model: str
    ready_s: float | None
    log_lines: int | None = None
    metrics_ok: bool | None = None
    note: str = ""


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _measure_level(
    system: str,
    model: BenchModel,
    spec: Launch,
    concurrency: int,
    args: argparse.Namespace,
    body_file: Path,
) -> Row:
    """Warm up, then measure one concurrency level of a running server."""
    per_request = system == "rscript"
    # One Rscript per request manages a few requests a second: no warm-up (nothing to warm, and
    # abandoned warm-up requests would still queue ahead), and long enough for c64 to complete.
    warmup = 0.0 if per_request else args.warmup
    duration = max(args.duration, 20.0, 0.75 * concurrency) if per_request else args.duration
    timeout_s = 60.0 if model.language == "r" else 5.0

    def load_for(seconds: float) -> WrkResult:
        return run_wrk(
            spec.url,
            body_file=body_file,
            connections=concurrency,
            duration_s=seconds,
            threads=args.wrk_threads,
            timeout_s=timeout_s,
            authorization=spec.authorization,
        )

    if warmup > 0:
        load_for(warmup)
    load = _load1()
    pgid = spec.server.process.pid if spec.server.process else 0
    cpu_before = group_cpu_by_command(pgid)
    result = load_for(duration)
    cpu_after = group_cpu_by_command(pgid)
    cpu = sum(cpu_after.values()) - sum(cpu_before.values())
    r_cpu = cpu_after.get("R", 0.0) - cpu_before.get("R", 0.0)
    row = Row(
        system,
        model.name,
        concurrency,
        round(result.rps, 1),
        round(result.p50_ms, 3),
        round(result.p99_ms, 3),
        result.errors,
        round(load, 2),
        cpu_us=round(cpu / result.requests * 1e6, 1) if result.requests else 0.0,
        r_cpu_us=round(r_cpu / result.requests * 1e6, 1) if result.requests else 0.0,
    )
    r_share = f" (R processes {row.r_cpu_us:.0f})" if row.r_cpu_us else ""
    log(
        f"  {system}/{model.name} c{concurrency}: {row.rps:,.0f} req/s, "
        f"p50 {row.p50_ms:.2f} ms, p99 {row.p99_ms:.2f} ms, errors {row.errors}, "
        f"{row.cpu_us:.0f} CPU µs/req{r_share}, load {load:.1f}"
    )
    return row


def bench_server(
    system: str, model: BenchModel, args: argparse.Namespace
) -> tuple[list[Row], ServerStats]:
    """All concurrency levels of one system serving one model.

    The one-Rscript-per-request baseline gets a fresh server per level: requests wrk abandons at
    the end of a level would otherwise keep its few R slots busy into the next one.
    """
    rows: list[Row] = []
    stats = ServerStats(system, model.name, None)

    def failed(note: str) -> tuple[list[Row], ServerStats]:
        log(f"  {system}/{model.name} FAILED: {note.splitlines()[0] if note else ''}")
        rows.extend(
            Row(system, model.name, c, 0.0, 0.0, 0.0, 0, _load1(), note.splitlines()[0][:200])
            for c in args.concurrency
            if not any(r.concurrency == c for r in rows)
        )
        stats.note = note[:2000]
        return rows, stats

    groups = [[c] for c in args.concurrency] if system == "rscript" else [args.concurrency]
    for levels in groups:
        try:
            spec = launch(system, model, BUILD_DIR, log)
        except (RuntimeError, OSError) as exc:
            return failed(f"setup: {exc}")
        body_file = BUILD_DIR / "bodies" / f"{system}-{model.name}.json"
        body_file.parent.mkdir(parents=True, exist_ok=True)
        body_file.write_bytes(spec.body)
        try:
            with running(spec.server) as ready_s:
                if stats.ready_s is None:
                    stats.ready_s = ready_s
                    log(f"  {system}/{model.name} ready in {ready_s:.2f} s")
                verify(spec, model)
                for concurrency in levels:
                    rows.append(_measure_level(system, model, spec, concurrency, args, body_file))
                if spec.metrics_url is not None:
                    status, _ = http("GET", spec.metrics_url, headers=_auth(spec))
                    stats.metrics_ok = status == 200
        except (ServerError, WrongAnswer, WrkError, OSError, ValueError) as exc:
            return failed(f"{type(exc).__name__}: {exc}")
        if system.startswith("mlws"):
            stats.log_lines = _count_lines(spec.server.log_file)
    return rows, stats


def median_row(rounds: list[Row]) -> Row:
    """One row for several rounds of a level: the round with the median req/s, with the errors of
    all rounds added up (a failure in any round is kept)."""
    failed = [r for r in rounds if r.note]
    if failed:
        return failed[0]
    ordered = sorted(rounds, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return replace(middle, errors=sum(r.errors for r in rounds))


def bench_model(
    model: BenchModel, systems: list[str], args: argparse.Namespace
) -> tuple[list[Row], list[ServerStats]]:
    """Every system serving ``model``, measured in turns so they share the machine's noise.

    All servers start first (each checked for a right answer); then for each concurrency level,
    each round measures every system once, one after the other. A level's figure is its median
    round. The one-Rscript-per-request baseline runs alone afterwards (see :func:`bench_server`).
    """
    rows: list[Row] = []
    stats: dict[str, ServerStats] = {}
    specs: dict[str, tuple[Launch, Path]] = {}
    failures: dict[str, str] = {}
    rounds: dict[tuple[str, int], list[Row]] = {}
    together = [s for s in systems if s != "rscript"]
    with contextlib.ExitStack() as stack:
        for system in together:
            stats[system] = ServerStats(system, model.name, None)
            try:
                spec = launch(system, model, BUILD_DIR, log)
                body_file = BUILD_DIR / "bodies" / f"{system}-{model.name}.json"
                body_file.parent.mkdir(parents=True, exist_ok=True)
                body_file.write_bytes(spec.body)
                ready_s = stack.enter_context(running(spec.server))
                stats[system].ready_s = ready_s
                log(f"  {system}/{model.name} ready in {ready_s:.2f} s")
                verify(spec, model)
                specs[system] = (spec, body_file)
            except (RuntimeError, ServerError, WrongAnswer, OSError, ValueError) as exc:
                failures[system] = f"{type(exc).__name__}: {exc}"
                log(f"  {system}/{model.name} FAILED: {failures[system].splitlines()[0]}")
        for concurrency in args.concurrency:
            for _ in range(args.rounds):
                for system, (spec, body_file) in specs.items():
                    if system in failures:
                        continue
                    try:
                        row = _measure_level(system, model, spec, concurrency, args, body_file)
                    except (WrkError, OSError) as exc:
                        failures[system] = f"{type(exc).__name__}: {exc}"
                        log(f"  {system}/{model.name} FAILED: {failures[system].splitlines()[0]}")
                        continue
                    rounds.setdefault((system, concurrency), []).append(row)
        for system, (spec, _) in specs.items():
            if spec.metrics_url is not None:
                with contextlib.suppress(OSError):
                    status, _ = http("GET", spec.metrics_url, headers=_auth(spec))
                    stats[system].metrics_ok = status == 200
    for system in together:
        note = failures.get(system, "")
        stats[system].note = note[:2000]
        if system.startswith("mlws") and system in specs:
            stats[system].log_lines = _count_lines(specs[system][0].server.log_file)
        for concurrency in args.concurrency:
            measured = rounds.get((system, concurrency))
            if measured:
                rows.append(median_row(measured))
            else:
                first = note.splitlines()[0][:200] if note else "not measured"
                rows.append(Row(system, model.name, concurrency, 0.0, 0.0, 0.0, 0, _load1(), first))
    if "rscript" in systems:
        log(f"rscript serving {model.name}")
        more, rscript_stats = bench_server("rscript", model, args)
        rows += more
        stats["rscript"] = rscript_stats
    return rows, [stats[s] for s in systems if s in stats]


def measure_r_alone(model: BenchModel, args: argparse.Namespace) -> list[Row]:
    """The ``r-alone`` rows: what mlws's R processes compute with no server (the R ceiling)."""
    body_file = BUILD_DIR / "bodies" / f"r-alone-{model.name}.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_bytes(model.body)
    log(f"{model.name}: R workers alone ({args.r_calls} calls per process)")
    try:
        rows, measured = r_alone.rows(
            model, args.concurrency, MLWS_R_PROCESSES, args.r_calls, body_file
        )
    except (r_alone.RCostError, OSError, subprocess.TimeoutExpired) as exc:
        log(f"  r-alone FAILED: {exc}")
        return [
            Row(r_alone.SYSTEM, model.name, c, 0.0, 0.0, 0.0, 0, _load1(), str(exc)[:200])
            for c in args.concurrency
        ]
    for m in measured:
        log(
            f"  {m.processes} R process(es) alone: {m.seconds_per_call * 1000:.2f} ms per call, "
            f"{m.rps:,.0f} calls/s together"
        )
    return rows


def _auth(spec: Launch) -> dict[str, str]:
    return {"Authorization": spec.authorization} if spec.authorization else {}


NOOP_SCRIPT = '''"""No-op entry script: times mlws serve's own start-up."""


def init():
    pass


def run(raw_data):
    return raw_data
'''


def measure_startup(runs: int) -> tuple[float | None, list[float], str]:
    """Seconds from ``mlws serve`` to readiness with a no-op ``init()`` (median of ``runs``)."""
    from benchmarks.procs import free_port

    folder = BUILD_DIR / "noop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.py").write_text(NOOP_SCRIPT)
    times: list[float] = []
    for attempt in range(runs):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLWS_", "AZUREML_"))}
        env |= {
            "AML_APP_ROOT": str(folder),
            "AZUREML_ENTRY_SCRIPT": "score.py",
            "MLWS_PORT": str(port),
            "MLWS_HOST": "127.0.0.1",
        }
        server = Server(
            name="mlws/noop",
            command=[str(Path(sys.executable).parent / "mlws"), "serve"],
            env=env,
            cwd=folder,
            ready_url=f"http://127.0.0.1:{port}{MLWS_READY_PATH}",
            log_file=BUILD_DIR / "logs" / f"mlws-startup-{attempt}.log",
            ready_timeout_s=30,
        )
        try:
            with running(server) as ready_s:
                times.append(ready_s)
        except ServerError as exc:
            return None, times, str(exc)
    times.sort()
    return (times[len(times) // 2] if times else None), times, ""


def machine_info() -> dict[str, object]:
    """What the figures were measured on."""
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "commit": commit.stdout.strip(),
        "loadavg_start": os.getloadavg(),
    }


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark; 0 when every selected run completed without errors."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    info = machine_info()
    log(f"load average at start: {info['loadavg_start']}")

    models: list[BenchModel] = []
    skipped: dict[str, str] = {}
    for name in args.models:
        try:
            models.append(prepare(name, BUILD_DIR))
        except ModelUnavailable as exc:
            skipped[name] = str(exc)
            log(f"model {name} skipped: {exc}")

    rows: list[Row] = []
    servers: list[ServerStats] = []
    ready_s: float | None = None
    startup_times: list[float] = []
    try:
        if "mlws" in args.systems and args.startup_runs > 0:
            ready_s, startup_times, problem = measure_startup(args.startup_runs)
            log(f"mlws start-up (no-op init): {startup_times} {problem}")
        for model in models:
            systems = [s for s in args.systems if model.language in SYSTEMS[s].languages]
            log(f"{model.name}: {', '.join(systems)}")
            new_rows, new_stats = bench_model(model, systems, args)
            rows += new_rows
            servers += new_stats
            if model.language == "r" and args.r_calls > 0:
                rows += measure_r_alone(model, args)
    except KeyboardInterrupt:
        log("interrupted; servers stopped, writing what was measured")

    info["loadavg_end"] = os.getloadavg()
    targets = report.evaluate_targets(rows, ready_s)
    table = report.text_table(rows)
    print(table)
    print()
    for t in targets:
        value = "-" if t.value is None else f"{t.value:.2f}"
        print(f"{t.verdict():>12}  {t.name}: {value} (goal {t.goal})")
    write_results(args, info, rows, servers, targets, ready_s, startup_times, skipped)
    return 0 if rows and all(r.errors == 0 and not r.note for r in rows) else 1


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _loads(value: object) -> str:
    if isinstance(value, tuple | list):
        return " / ".join(f"{float(v):.2f}" for v in value)
    return str(value)


def write_results(
    args: argparse.Namespace,
    info: dict[str, object],
    rows: list[Row],
    servers: list[ServerStats],
    targets: list[report.Target],
    ready_s: float | None,
    startup_times: list[float],
    skipped: dict[str, str],
) -> None:
    """``latest.json``, ``latest.md`` and a timestamped JSON copy under ``args.out``."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": info,
        "settings": {
            "systems": args.systems,
            "models": args.models,
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "wrk_threads": args.wrk_threads,
        },
        "descriptions": {name: SYSTEMS[name].description for name in args.systems},
        "rows": [r.as_dict() for r in rows],
        "servers": [vars(s) for s in servers],
        "startup": {"median_s": ready_s, "runs_s": startup_times},
        "targets": [vars(t) for t in targets],
        "skipped_models": skipped,
    }
    text = json.dumps(data, indent=2, default=str)
    (out / "latest.json").write_text(text)
    (out / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    lines = [
        f"Measured {info['date']} on {info['cpus']} CPUs ({info['platform']}), "
        f"commit {info['commit']}, wrk {args.wrk_threads} thread(s), {args.duration:g} s per "
        f"level after {args.warmup:g} s warm-up, median of {args.rounds} round(s) taken in turns. "
        f"Load average start {_loads(info['loadavg_start'])}, end {_loads(info['loadavg_end'])}.",
        "",
        "Systems: " + "; ".join(f"**{n}**: {SYSTEMS[n].description}" for n in args.systems),
        "",
        report.markdown_tables(rows),
        f"mlws start-up with a no-op init() (launch to ready): median {_seconds(ready_s)} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in startup_times) or 'none'}).",
        "",
        "Start-up with the model's own init, and what mlws wrote (request log lines, /metrics):",
        "",
        "| system | model | ready s | log lines | metrics |",
        "| --- | --- | ---: | ---: | --- |",
        *(
            f"| {s.system} | {s.model} | {_seconds(s.ready_s)} | "
            f"{'-' if s.log_lines is None else s.log_lines} | "
            f"{'-' if s.metrics_ok is None else ('200' if s.metrics_ok else 'failed')} |"
            for s in servers
        ),
        "",
        "Targets (issue 11):",
        "",
        report.targets_markdown(targets),
        "",
    ]
    if skipped:
        lines += ["Skipped models: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()), ""]
    (out / "latest.md").write_text("\n".join(lines))
    (out / "latest.svg").write_text(report.svg_chart(rows))
    log(f"wrote {out / 'latest.json'}, {out / 'latest.md'} and {out / 'latest.svg'}")


if __name__ == "__main__":
    sys.exit(main())
