"""Drive a server with wrk and read its figures.

wrk prints rounded, unit-suffixed text (``1.04ms``, ``13.01k``, ``1.00m``); ``post.lua``'s ``done``
hook also prints exact microsecond figures as one ``BENCH_JSON {...}`` line. The harness uses the
JSON line and cross-checks it against the text, so a parsing slip in either shows up as a mismatch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("post.lua")

_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_UNITS = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
_TIME_RE = r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)"


class WrkError(RuntimeError):
    """wrk failed or printed something the parser does not understand."""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured. Latencies are milliseconds."""

    requests: int
    """Completed requests (any status)."""
    duration_s: float
    """Measured wall time."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    """Responses with a status of 400 or more (wrk's "Non-2xx or 3xx responses")."""
    socket_errors: int
    """connect + read + write + timeout errors."""
    timeouts: int
    """Requests that got no answer within wrk's ``--timeout`` (included in ``socket_errors``)."""

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        """Every failed request: non-2xx responses plus socket errors."""
        return self.non_2xx + self.socket_errors

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready figures, including the derived ones."""
        data: dict[str, float | int] = asdict(self)
        data["rps"] = round(self.rps, 1)
        data["errors"] = self.errors
        return data


def parse_time(text: str) -> float:
    """Seconds from one of wrk's time strings: ``870.00us``, ``1.04ms``, ``2.00s``, ``1.00m``."""
    match = re.fullmatch(_TIME_RE, text.strip())
    if match is None:
        raise WrkError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def parse_count(text: str) -> float:
    """A number with wrk's metric suffix: ``13.01k`` -> 13010.0, ``512`` -> 512.0."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kMG]?)", text.strip())
    if match is None:
        raise WrkError(f"not a wrk count: {text!r}")
    return float(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_text(output: str) -> WrkResult:
    """Parse the text wrk prints with ``--latency``."""
    total = re.search(r"^\s*([0-9]+) requests in " + _TIME_RE + ",", output, re.MULTILINE)
    if total is None:
        raise WrkError("wrk output has no 'N requests in T' line:\n" + output)
    requests = int(total.group(1))
    duration = float(total.group(2)) * _TIME_UNITS[total.group(3)]

    percentiles: dict[int, float] = {}
    block = output.split("Latency Distribution", 1)
    if len(block) == 2:
        for pct, value in re.findall(r"^\s*([0-9]+)%\s+(\S+)\s*$", block[1], re.MULTILINE):
            percentiles[int(pct)] = parse_time(value) * 1e3
    if requests and not {50, 90, 99} <= percentiles.keys():
        raise WrkError("wrk output has no latency distribution (was --latency given?):\n" + output)

    stats = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", output, re.MULTILINE)
    mean_ms = max_ms = 0.0
    if stats is not None and requests:
        mean_ms = parse_time(stats.group(1)) * 1e3
        max_ms = parse_time(stats.group(3)) * 1e3

    socket = re.search(
        r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)", output
    )
    connect, read, write, timeout = (int(g) for g in socket.groups()) if socket else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: ([0-9]+)", output)
    return WrkResult(
        requests=requests,
        duration_s=duration,
        p50_ms=percentiles.get(50, 0.0),
        p90_ms=percentiles.get(90, 0.0),
        p99_ms=percentiles.get(99, 0.0),
        mean_ms=mean_ms,
        max_ms=max_ms,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=connect + read + write + timeout,
        timeouts=timeout,
    )


def parse_json_line(output: str) -> WrkResult | None:
    """Parse the ``BENCH_JSON`` line that ``post.lua`` prints, or None when there is none."""
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        return None
    try:
        data = json.loads(line.removeprefix("BENCH_JSON "))
        errors = int(data["connect"]) + int(data["read"]) + int(data["write"])
        timeouts = int(data["timeout"])
        return WrkResult(
            requests=int(data["requests"]),
            duration_s=int(data["duration_us"]) / 1e6,
            p50_ms=int(data["p50_us"]) / 1e3,
            p90_ms=int(data["p90_us"]) / 1e3,
            p99_ms=int(data["p99_us"]) / 1e3,
            mean_ms=float(data["lat_mean_us"]) / 1e3,
            max_ms=int(data["lat_max_us"]) / 1e3,
            non_2xx=int(data["status"]),
            socket_errors=errors + timeouts,
            timeouts=timeouts,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WrkError(f"bad BENCH_JSON line {line!r}: {exc}") from exc


def _close(a: float, b: float, rel: float, absolute: float) -> bool:
    return abs(a - b) <= max(absolute, rel * max(abs(a), abs(b)))


def parse_output(output: str) -> WrkResult:
    """The run's figures: the exact JSON line, checked against wrk's own text.

    The text is rounded to 3 significant figures (``1.04ms``), so the check allows that much.
    """
    text = parse_text(output)
    exact = parse_json_line(output)
    if exact is None:
        return text
    mismatches = [
        name
        for name, ok in (
            ("requests", exact.requests == text.requests),
            ("non_2xx", exact.non_2xx == text.non_2xx),
            ("socket_errors", exact.socket_errors == text.socket_errors),
            ("duration", _close(exact.duration_s, text.duration_s, 0.01, 0.01)),
            ("p50", _close(exact.p50_ms, text.p50_ms, 0.01, 0.011)),
            ("p99", _close(exact.p99_ms, text.p99_ms, 0.01, 0.011)),
        )
        if not ok
    ]
    if mismatches:
        raise WrkError(f"wrk's text and JSON figures disagree on {mismatches}:\n{output}")
    return exact


def wrk_command(
    url: str, *, connections: int, duration_s: float, threads: int, timeout_s: float
) -> list[str]:
    """The wrk command line for one run (wrk needs at least one connection per thread)."""
    return [
        "wrk",
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]


def run_wrk(
    url: str,
    *,
    body_file: Path,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 5.0,
    authorization: str | None = None,
) -> WrkResult:
    """Run wrk against ``url`` POSTing ``body_file`` and return its parsed figures."""
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file), BENCH_AUTH=authorization or "")
    cmd = wrk_command(
        url, connections=connections, duration_s=duration_s, threads=threads, timeout_s=timeout_s
    )
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=duration_s + timeout_s + 30
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise WrkError(f"wrk exited {proc.returncode}: {proc.stderr or proc.stdout}")
    return parse_output(proc.stdout)
