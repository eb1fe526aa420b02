"""wrk output parsing: the text wrk prints and the JSON line post.lua adds must agree."""

import pytest

from benchmarks.wrk import (
    WrkError,
    parse_count,
    parse_json_line,
    parse_output,
    parse_text,
    parse_time,
    wrk_command,
)

CLEAN = """\
Running 2s test @ http://127.0.0.1:18555/score
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.74ms    3.24ms  20.50ms   85.20%
    Req/Sec     2.25k     0.94k    3.73k    70.00%
  Latency Distribution
     50%    1.04ms
     75%    3.88ms
     90%    7.59ms
     99%   14.61ms
  4466 requests in 2.00s, 497.41KB read
Requests/sec:   2229.67
Transfer/sec:    248.33KB
BENCH_JSON {"duration_us":2002990,"requests":4466,"bytes":509346,"connect":0,"read":0,"write":0,\
"status":0,"timeout":0,"lat_mean_us":2743.93,"lat_max_us":20505,"p50_us":1044,"p90_us":7587,\
"p99_us":14606}
"""

# Captured from a server answering 500 to every fifth request and stalling past --timeout 1s.
WITH_ERRORS = """\
Running 3s test @ http://127.0.0.1:18556/score
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    41.72ms    9.93ms  48.12ms   92.55%
    Req/Sec    30.48     19.65    80.00     74.19%
  Latency Distribution
     50%   43.99ms
     75%   44.01ms
     90%   47.98ms
     99%   48.12ms
  102 requests in 3.01s, 11.87KB read
  Socket errors: connect 0, read 0, write 0, timeout 8
  Non-2xx or 3xx responses: 21
Requests/sec:     33.88
Transfer/sec:      3.94KB
BENCH_JSON {"duration_us":3010376,"requests":102,"bytes":12157,"connect":0,"read":0,"write":0,\
"status":21,"timeout":8,"lat_mean_us":41717.88,"lat_max_us":48115,"p50_us":43994,"p90_us":47977,\
"p99_us":48115}
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("870.00us", 870e-6), ("1.04ms", 1.04e-3), ("2.00s", 2.0), ("1.50m", 90.0), ("3ms", 3e-3)],
)
def test_parse_time_units(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "1.0", "ms", "1.0 ms", "-1ms", "1.0kb"])
def test_parse_time_rejects_garbage(bad: str) -> None:
    with pytest.raises(WrkError):
        parse_time(bad)


def test_parse_count_suffixes() -> None:
    assert parse_count("13.01k") == pytest.approx(13010)
    assert parse_count("512") == 512
    assert parse_count("1.5M") == pytest.approx(1.5e6)


def test_parse_text_clean_run() -> None:
    result = parse_text(CLEAN)
    assert result.requests == 4466
    assert result.duration_s == pytest.approx(2.0)
    assert result.p50_ms == pytest.approx(1.04)
    assert result.p90_ms == pytest.approx(7.59)
    assert result.p99_ms == pytest.approx(14.61)
    assert result.mean_ms == pytest.approx(2.74)
    assert result.max_ms == pytest.approx(20.5)
    assert result.errors == 0
    assert result.rps == pytest.approx(2233, rel=1e-3)


def test_parse_text_counts_status_and_socket_errors() -> None:
    result = parse_text(WITH_ERRORS)
    assert result.non_2xx == 21
    assert result.timeouts == 8
    assert result.socket_errors == 8
    assert result.errors == 29


def test_json_line_is_exact_and_agrees_with_text() -> None:
    exact = parse_json_line(CLEAN)
    assert exact is not None
    assert exact.p50_ms == pytest.approx(1.044)
    assert exact.duration_s == pytest.approx(2.00299)
    assert parse_output(CLEAN) == exact
    assert parse_output(WITH_ERRORS).errors == 29


def test_no_json_line_falls_back_to_text() -> None:
    text_only = CLEAN.split("BENCH_JSON")[0]
    assert parse_json_line(text_only) is None
    assert parse_output(text_only).p99_ms == pytest.approx(14.61)


def test_disagreeing_figures_are_an_error() -> None:
    tampered = CLEAN.replace('"requests":4466', '"requests":4467')
    with pytest.raises(WrkError, match="requests"):
        parse_output(tampered)
    tampered = CLEAN.replace("99%   14.61ms", "99%   14.61s")
    with pytest.raises(WrkError, match="p99"):
        parse_output(tampered)


def test_missing_latency_distribution_is_an_error() -> None:
    without = CLEAN.split("  Latency Distribution")[0] + "\n  4466 requests in 2.00s, 1KB read\n"
    with pytest.raises(WrkError, match="latency distribution"):
        parse_text(without)


def test_missing_summary_is_an_error() -> None:
    with pytest.raises(WrkError, match="requests in"):
        parse_text("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_bad_json_line_is_an_error() -> None:
    with pytest.raises(WrkError, match="BENCH_JSON"):
        parse_json_line('BENCH_JSON {"requests": 1}\n')


def test_wrk_command_never_has_more_threads_than_connections() -> None:
    cmd = wrk_command("http://x/score", connections=1, duration_s=10, threads=4, timeout_s=5)
    assert "-t1" in cmd
    assert "-c1" in cmd
    assert "--latency" in cmd
    assert cmd[-1] == "http://x/score"
