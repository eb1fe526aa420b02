"""Benchmark tables and target checks."""

import pytest

from benchmarks.report import (
    Row,
    evaluate_targets,
    markdown_tables,
    ratio_to_mlws,
    targets_markdown,
    text_table,
)


def _row(system: str, rps: float, c: int = 16, p99: float = 5.0, errors: int = 0) -> Row:
    return Row(system, "ridge", c, rps, 1.0, p99, errors, 1.5)


ROWS = [
    _row("mlws", 12000, p99=4.0),
    _row("azmlinfsrv", 2000, p99=30.0),
    _row("azmlinfsrv-2w", 3200, p99=20.0),
    _row("mlserver", 1300),
    _row("minimal", 14000, p99=3.0),
    _row("mlws-batch", 15000),
]


def test_ratio_is_relative_to_mlws_at_same_level() -> None:
    assert ratio_to_mlws(ROWS, ROWS[1]) == pytest.approx(2000 / 12000)
    assert ratio_to_mlws(ROWS, _row("minimal", 100, c=64)) is None


def test_targets_use_ratios_and_p99() -> None:
    targets = {t.name: t for t in evaluate_targets(ROWS, ready_s=0.4)}
    az = targets["ridge c16: mlws / azmlinfsrv"]
    assert az.value == pytest.approx(6.0)
    assert az.met is False  # issue 11 asks 10x
    minimal = targets["ridge c16: mlws / minimal"]
    assert minimal.value == pytest.approx(12000 / 14000)
    assert minimal.met is False  # issue 11 asks 1.3x and a p99 no higher
    assert targets["ridge c64: mlws / minimal"].met is None  # not measured
    assert targets["ridge c64: mlws-batch / minimal"].met is None
    assert targets["mlws serve ready, no-op init()"].met is True
    assert targets["mlws errors at every level"].met is True


def test_minimal_target_needs_both_speed_and_p99() -> None:
    fast_tail = [_row("mlws", 14000, p99=3.0), _row("minimal", 10000, p99=3.0)]
    slow_tail = [_row("mlws", 14000, p99=3.1), _row("minimal", 10000, p99=3.0)]
    name = "ridge c16: mlws / minimal"
    assert {t.name: t for t in evaluate_targets(fast_tail, None)}[name].met is True  # 1.4x, equal
    assert {t.name: t for t in evaluate_targets(slow_tail, None)}[name].met is False


def test_batching_and_azmlinfsrv_targets() -> None:
    rows = [
        _row("mlws", 20000, c=64),
        _row("azmlinfsrv", 1900, c=64),
        _row("mlws-batch", 21000, c=64),
        _row("minimal", 10000, c=64),
    ]
    targets = {t.name: t for t in evaluate_targets(rows, None)}
    assert targets["ridge c64: mlws / azmlinfsrv"].met is True  # 10.5x
    assert targets["ridge c64: mlws-batch / minimal"].met is True  # 2.1x
    rows[2] = _row("mlws-batch", 19000, c=64)
    targets = {t.name: t for t in evaluate_targets(rows, None)}
    assert targets["ridge c64: mlws-batch / minimal"].met is False  # 1.9x


def test_r_targets_against_ceiling_and_plumber() -> None:
    def r(system: str, rps: float) -> Row:
        return Row(system, "r-accident", 16, rps, 3.0, 6.0, 0, 1.0)

    rows = [r("mlws", 560), r("r-alone", 600), r("plumber", 300)]
    targets = {t.name: t for t in evaluate_targets(rows, None)}
    assert targets["r-accident c16: mlws / r-alone"].value == pytest.approx(560 / 600)
    assert targets["r-accident c16: mlws / r-alone"].met is True
    assert targets["r-accident c16: mlws / plumber"].met is True
    rows = [r("mlws", 500), r("r-alone", 600), r("plumber", 400)]
    targets = {t.name: t for t in evaluate_targets(rows, None)}
    assert targets["r-accident c16: mlws / r-alone"].met is False  # 83 %
    assert targets["r-accident c16: mlws / plumber"].met is False  # 1.25x


def test_target_fails_on_slow_p99_or_errors() -> None:
    rows = [_row("mlws", 20000, p99=40.0), _row("minimal", 10000, p99=30.0)]
    assert evaluate_targets(rows, None)[0].met is False  # fast enough but p99 worse
    rows = [_row("mlws", 25000, errors=3), _row("azmlinfsrv", 2000)]
    targets = {t.name: t for t in evaluate_targets(rows, 2.0)}
    assert targets["ridge c16: mlws / azmlinfsrv"].met is False
    assert targets["mlws errors at every level"].met is False
    assert targets["mlws serve ready, no-op init()"].met is False


def test_failed_row_is_shown_not_measured() -> None:
    rows = [*ROWS, Row("mlserver", "ridge", 64, 0.0, 0.0, 0.0, 0, 2.0, "ServerError: boom")]
    md = markdown_tables(rows)
    assert "ServerError: boom" in md
    assert "FAILED: ServerError: boom" in text_table(rows)


def test_markdown_table_has_one_line_per_row() -> None:
    md = markdown_tables(ROWS)
    assert md.startswith("### ridge")
    body = [line for line in md.splitlines() if line.startswith("| mlws") or "| 16 |" in line]
    assert len(body) == len(ROWS)
    assert "| azmlinfsrv | 16 | 2,000 | 1.00 | 30.00 | 0 | 0.17x | 0 | 1.5 |" in md
    assert "| target |" in targets_markdown(evaluate_targets(ROWS, None))


def test_median_row_takes_middle_round_and_adds_errors() -> None:
    from benchmarks.run import median_row

    rounds = [_row("mlws", 900, errors=1), _row("mlws", 1200), _row("mlws", 1000, errors=2)]
    row = median_row(rounds)
    assert row.rps == 1000
    assert row.errors == 3
    failed = Row("mlws", "ridge", 16, 0.0, 0.0, 0.0, 0, 1.0, "boom")
    assert median_row([*rounds, failed]).note == "boom"


def test_svg_chart_has_a_bar_per_measured_row_and_a_legend() -> None:
    import xml.etree.ElementTree as ET

    from benchmarks.report import svg_chart

    rows = [*ROWS, Row("mlserver", "ridge", 64, 0.0, 0.0, 0.0, 0, 1.0, "failed")]
    root = ET.fromstring(svg_chart(rows))
    rects = [e for e in root.iter() if e.tag.endswith("rect")]
    bars = [r for r in rects if any(c.tag.endswith("title") for c in r)]
    assert len(bars) == len(ROWS)  # the failed row has no bar
    tallest = max(bars, key=lambda r: float(r.get("height", 0)))
    assert "mlws-batch" in "".join(tallest.itertext())
    assert len(rects) - len(bars) == len({r.system for r in ROWS})  # legend swatches
