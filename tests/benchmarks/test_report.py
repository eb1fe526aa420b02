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
    assert az.met is True
    assert targets["ridge c16: mlws / azmlinfsrv-2w"].met is True  # 3.75x, p99 lower
    assert targets["ridge c16: mlws / minimal"].met is True  # 0.857 >= 0.85
    assert targets["ridge c16: mlws-batch / minimal"].met is True
    assert targets["ridge c64: mlws / minimal"].met is None  # not measured
    assert targets["mlws serve ready, no-op init()"].met is True
    assert targets["mlws errors at every level"].met is True


def test_target_fails_on_slow_p99_or_errors() -> None:
    rows = [_row("mlws", 12000, p99=40.0), _row("azmlinfsrv", 2000, p99=30.0)]
    assert evaluate_targets(rows, None)[0].met is False  # fast enough but p99 worse
    rows = [_row("mlws", 12000, errors=3), _row("mlserver", 1000)]
    targets = {t.name: t for t in evaluate_targets(rows, 2.0)}
    assert targets["ridge c16: mlws / mlserver"].met is False
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
