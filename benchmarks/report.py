"""Results: one row per (system, model, concurrency), the tables, and the targets of issue 11."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Row:
    """One measured load level (or a failed one, with ``note`` saying why)."""

    system: str
    model: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    """Non-2xx responses plus socket errors (timeouts included)."""
    load1: float
    """The machine's 1-minute load average when the level started."""
    note: str = ""
    cpu_us: float = 0.0
    """Server CPU time (all its processes) per completed request, microseconds."""
    r_cpu_us: float = 0.0
    """Of ``cpu_us``, the share of the server's R processes (``R``), microseconds."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, checked on this run's rows."""

    name: str
    value: float | None
    """The measured figure (a ratio, or seconds), None when a row it needs is missing."""
    goal: str
    met: bool | None
    """None when it could not be evaluated."""

    def verdict(self) -> str:
        """``met``, ``NOT met`` or ``not measured``."""
        return {True: "met", False: "NOT met", None: "not measured"}[self.met]


def _find(rows: Iterable[Row], system: str, model: str, concurrency: int) -> Row | None:
    for row in rows:
        if (row.system, row.model, row.concurrency) == (system, model, concurrency):
            return row
    return None


def ratio_to_mlws(rows: Sequence[Row], row: Row) -> float | None:
    """``row``'s req/s divided by mlws's at the same model and concurrency."""
    ref = _find(rows, "mlws", row.model, row.concurrency)
    if ref is None or ref.rps <= 0 or ref.note:
        return None
    return row.rps / ref.rps


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def markdown_tables(rows: Sequence[Row]) -> str:
    """One Markdown table per model, systems in the order they ran."""
    out: list[str] = []
    for model in dict.fromkeys(r.model for r in rows):
        out.append(f"### {model}\n")
        out.append(
            "| system | conc. | req/s | p50 ms | p99 ms | errors | vs mlws | CPU µs/req | load |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in (r for r in rows if r.model == model):
            if row.note:
                out.append(
                    f"| {row.system} | {row.concurrency} | - | - | - | - | - | - | "
                    f"{row.load1:.1f} |  {row.note}"
                )
                continue
            ratio = ratio_to_mlws(rows, row)
            out.append(
                f"| {row.system} | {row.concurrency} | {_fmt(row.rps, 0)} | {_fmt(row.p50_ms)} | "
                f"{_fmt(row.p99_ms)} | {row.errors} | "
                f"{'-' if ratio is None else f'{ratio:.2f}x'} | {_fmt(row.cpu_us, 0)} | "
                f"{row.load1:.1f} |"
            )
        out.append("")
    return "\n".join(out)


def text_table(rows: Sequence[Row]) -> str:
    """The same figures as fixed-width text for the terminal."""
    header = (
        f"{'model':<11} {'system':<14} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'vs mlws':>8} {'cpu µs':>7} {'load':>5}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if row.note:
            lines.append(
                f"{row.model:<11} {row.system:<14} {row.concurrency:>4}  FAILED: {row.note}"
            )
            continue
        ratio = ratio_to_mlws(rows, row)
        lines.append(
            f"{row.model:<11} {row.system:<14} {row.concurrency:>4} {row.rps:>9,.0f} "
            f"{row.p50_ms:>8.2f} {row.p99_ms:>8.2f} {row.errors:>7} "
            f"{'-' if ratio is None else f'{ratio:.2f}x':>8} {row.cpu_us:>7.0f} {row.load1:>5.1f}"
        )
    return "\n".join(lines)


def _speedup_target(
    rows: Sequence[Row],
    model: str,
    system: str,
    baseline: str,
    concurrency: int,
    goal: float,
    check_p99: bool = False,
) -> Target:
    """``system``'s req/s over ``baseline``'s must reach ``goal`` (and, if asked, its p99 be no
    higher than the baseline's)."""
    name = f"{model} c{concurrency}: {system} / {baseline}"
    goal_text = f">= {goal:g}x" + (" and p99 no higher" if check_p99 else "")
    ours, theirs = (_find(rows, s, model, concurrency) for s in (system, baseline))
    if ours is None or theirs is None or ours.note or theirs.note or theirs.rps <= 0:
        return Target(name, None, goal_text, None)
    ratio = ours.rps / theirs.rps
    met = ratio >= goal and ours.errors == 0
    if check_p99:
        met = met and ours.p99_ms <= theirs.p99_ms
    return Target(name, ratio, goal_text, met)


#: Issue 11's goals: mlws (key auth, ids, log, metrics) against the minimal server without and
#: with micro-batching, against azmlinfsrv; the R model against its R workers alone (the ceiling,
#: :mod:`benchmarks.r_alone`) and against R's own plumber.
MLWS_OVER_MINIMAL = 1.3
BATCH_OVER_MINIMAL_C64 = 2.0
MLWS_OVER_AZMLINFSRV = 10.0
R_SHARE_OF_CEILING = 0.9
R_OVER_PLUMBER = 1.5


def evaluate_targets(rows: Sequence[Row], ready_s: float | None) -> list[Target]:
    """Issue 11's targets, each with its measured figure."""
    targets: list[Target] = []
    for c in (16, 64):
        targets += [
            _speedup_target(rows, "ridge", "mlws", "minimal", c, MLWS_OVER_MINIMAL, True),
            _speedup_target(rows, "ridge", "mlws", "azmlinfsrv", c, MLWS_OVER_AZMLINFSRV),
        ]
    targets.append(
        _speedup_target(rows, "ridge", "mlws-batch", "minimal", 64, BATCH_OVER_MINIMAL_C64)
    )
    for c in sorted({r.concurrency for r in rows if r.model == "r-accident"}):
        targets += [
            _speedup_target(rows, "r-accident", "mlws", "r-alone", c, R_SHARE_OF_CEILING),
            _speedup_target(rows, "r-accident", "mlws", "plumber", c, R_OVER_PLUMBER),
        ]
    mlws_rows = [r for r in rows if r.system.startswith("mlws")]
    errors = sum(r.errors for r in mlws_rows)
    failed = [r for r in mlws_rows if r.note]
    targets.append(
        Target(
            "mlws errors at every level",
            float(errors),
            "0",
            None if not mlws_rows else (errors == 0 and not failed),
        )
    )
    targets.append(
        Target(
            "mlws serve ready, no-op init()",
            ready_s,
            "< 1 s",
            None if ready_s is None else ready_s < 1.0,
        )
    )
    return targets


def targets_markdown(targets: Sequence[Target]) -> str:
    """The targets as a Markdown table."""
    lines = ["| target | measured | goal | verdict |", "| --- | ---: | --- | --- |"]
    for t in targets:
        value = "-" if t.value is None else f"{t.value:.2f}"
        lines.append(f"| {t.name} | {value} | {t.goal} | {t.verdict()} |")
    return "\n".join(lines)


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def svg_chart(
    rows: Sequence[Row], title: str = "req/s by system and concurrency (one scale per model)"
) -> str:
    """A grouped bar chart (SVG, no plotting library): one group per model and concurrency level,
    one bar per system, labelled with its req/s."""
    measured = [r for r in rows if not r.note]
    groups = list(dict.fromkeys((r.model, r.concurrency) for r in measured))
    systems = list(dict.fromkeys(r.system for r in measured))
    if not groups:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"></svg>'
    bar, gap, left, top, height = 14, 18, 50, 40, 260
    group_width = len(systems) * bar + gap
    width = left + len(groups) * group_width + 160
    # Each model has its own scale (an R model and a sklearn model differ by orders of magnitude).
    peaks = {m: max(r.rps for r in measured if r.model == m) or 1.0 for m, _ in groups}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 70}" '
        'font-family="sans-serif" font-size="10">',
        f'<text x="{left}" y="20" font-size="14">{title}</text>',
        f'<line x1="{left}" y1="{top + height}" x2="{width - 150}" y2="{top + height}" '
        'stroke="#333"/>',
    ]
    by_key = {(r.model, r.concurrency, r.system): r for r in measured}
    for g, (model, concurrency) in enumerate(groups):
        x0 = left + g * group_width
        for s, system in enumerate(systems):
            row = by_key.get((model, concurrency, system))
            if row is None:
                continue
            h = max(1.0, height * row.rps / peaks[model])
            x, y = x0 + s * bar, top + height - h
            colour = _COLOURS[s % len(_COLOURS)]
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar - 2}" height="{h:.1f}" fill="{colour}">'
                f"<title>{system} {model} c{concurrency}: {row.rps:,.0f} req/s</title></rect>"
            )
            parts.append(
                f'<text x="{x + bar / 2 - 1:.1f}" y="{y - 3:.1f}" font-size="8" '
                f'text-anchor="end" transform="rotate(-90 {x + bar / 2 - 1:.1f} {y - 3:.1f})">'
                f"{row.rps:,.0f}</text>"
            )
        label_x = x0 + (len(systems) * bar) / 2
        parts.append(
            f'<text x="{label_x:.1f}" y="{top + height + 14}" text-anchor="middle">{model}</text>'
        )
        parts.append(
            f'<text x="{label_x:.1f}" y="{top + height + 26}" text-anchor="middle">'
            f"c{concurrency}</text>"
        )
    for s, system in enumerate(systems):
        y = top + 10 + s * 16
        colour = _COLOURS[s % len(_COLOURS)]
        parts.append(
            f'<rect x="{width - 140}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(f'<text x="{width - 125}" y="{y}">{system}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
