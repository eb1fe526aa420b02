"""The R entry-script pool over the EntryScript interface: real Rscript processes, no HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlws.runtime.entry_script import EntryScriptError, ScoreRequest
from mlws.runtime.r_script import (
    WORKER_SCRIPT,
    REntryScript,
    RScriptError,
    RWorkerCrashedError,
    RWorkerTimeoutError,
    query_as_json,
)
from mlws.runtime.settings import RuntimeSettings
from tests.runtime.r_support import R_MISSING

ECHO_SCRIPT = """
init <- function() {
  message("init: model dir is ", Sys.getenv("AZUREML_MODEL_DIR"))
  cat("noise on stdout\\n")
  greeting <- readLines(file.path(Sys.getenv("AZUREML_MODEL_DIR"), "greeting.txt"))
  function(data) {
    x <- jsonlite::fromJSON(data, simplifyVector = FALSE)
    cat("stdout noise while scoring: \\x01\\x02 [1] 42\\n")
    print(x)
    message("stderr noise while scoring")
    if (!is.null(x$fail)) stop("asked to fail: ", x$fail)
    if (!is.null(x$crash)) quit(save = "no", status = 7)
    if (!is.null(x$sleep)) Sys.sleep(x$sleep)
    if (!is.null(x$raw)) return(x$raw)
    list(greeting = greeting, echo = x, pid = Sys.getpid())
  }
}
"""


def make_settings(tmp_path: Path, script: str, **overrides: object) -> RuntimeSettings:
    scoring = tmp_path / "scoring"
    model = tmp_path / "model"
    scoring.mkdir(exist_ok=True)
    model.mkdir(exist_ok=True)
    (scoring / "score.R").write_text(textwrap.dedent(script))
    (model / "greeting.txt").write_text("hello from the model dir\n")
    values: dict[str, object] = {
        "entry_script": Path("score.R"),
        "source_directory": scoring,
        "model_dir": model,
        "r_workers": 1,
        "scoring_timeout_ms": 10_000,
    }
    values.update(overrides)
    return RuntimeSettings.model_validate(values)


@pytest.fixture
def echo_pool(tmp_path: Path) -> Iterator[REntryScript]:
    script = REntryScript(make_settings(tmp_path, ECHO_SCRIPT, r_workers=2))
    script.init()
    yield script
    script.close()


def score_json(script: REntryScript, payload: object) -> object:
    result = script.score(ScoreRequest(body=json.dumps(payload).encode()))
    assert result.status == 200
    assert result.content_type == "application/json"
    return json.loads(result.body)


def wait_for(condition: object, timeout_s: float = 20.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); check its state.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_query_as_json_parses_values_like_azmlinfsrv() -> None:
    assert json.loads(query_as_json({"a": "1", "b": "[1,2]", "c": "text", "d": "null"})) == {
        "a": 1,
        "b": [1, 2],
        "c": "text",
        "d": None,
    }


def test_worker_script_ships_next_to_the_module() -> None:
    assert WORKER_SCRIPT.is_file()
    assert WORKER_SCRIPT.name == "r_worker.R"


@pytest.mark.slow
def test_wheel_contains_the_r_worker(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, source / name)
    for folder in ("mlws", "runtime", "components", "provider"):
        shutil.copytree(repo / folder, source / folder, ignore=shutil.ignore_patterns("*.pyc"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=False,
        capture_output=True,
        text=True,
    )
    if built.returncode != 0 and "Could not find a version" in built.stderr:
        pytest.skip(f"building a wheel needs setuptools from PyPI: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("mlws-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlws/runtime/r_worker.R" in names
    assert "mlws/runtime/r_script.py" in names


@pytest.mark.needs_r
@pytest.mark.skipif(R_MISSING is not None, reason=R_MISSING or "")
class TestRPool:
    def test_init_and_score_with_model_dir_and_noise(self, echo_pool: REntryScript) -> None:
        answer = score_json(echo_pool, {"a": 1, "b": ["x", "ü€"]})
        assert isinstance(answer, dict)
        assert answer["greeting"] == ["hello from the model dir"]
        assert answer["echo"] == {"a": [1], "b": [["x"], ["ü€"]]}
        assert len(echo_pool.worker_pids) == 2

    def test_string_results_pass_through_and_non_json_strings_are_encoded(
        self, echo_pool: REntryScript
    ) -> None:
        assert score_json(echo_pool, {"raw": '{"already": "json"}'}) == {"already": "json"}
        assert score_json(echo_pool, {"raw": "plain words"}) == "plain words"

    def test_megabytes_round_trip_through_the_pipes(self, tmp_path: Path) -> None:
        script = REntryScript(
            make_settings(tmp_path, "init <- function() function(data) paste0('[', data, ']')")
        )
        script.init()
        try:
            text = "é€" * 1_500_000
            body = json.dumps({"big": text}, ensure_ascii=False).encode()
            assert len(body) > 7_000_000
            result = script.score(ScoreRequest(body=body))
            assert json.loads(result.body) == [{"big": text}]
        finally:
            script.close()

    def test_get_query_parameters_become_a_json_object(self, echo_pool: REntryScript) -> None:
        result = echo_pool.score(ScoreRequest(body=b"", query={"a": "1", "name": "x"}))
        assert json.loads(result.body)["echo"] == {"a": [1], "name": ["x"]}

    def test_two_workers_score_concurrently(self, echo_pool: REntryScript) -> None:
        answers: list[object] = []

        def call() -> None:
            answers.append(score_json(echo_pool, {"sleep": 1.5}))

        started = time.monotonic()
        threads = [threading.Thread(target=call) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert elapsed < 2.6, f"two 1.5 s requests took {elapsed:.2f} s: not concurrent"
        pids = {a["pid"][0] for a in answers if isinstance(a, dict)}
        assert pids == set(echo_pool.worker_pids)

    def test_many_threads_share_the_pool_safely(self, echo_pool: REntryScript) -> None:
        results: dict[int, object] = {}

        def call(i: int) -> None:
            results[i] = score_json(echo_pool, {"i": i})

        threads = [threading.Thread(target=call, args=(i,)) for i in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(isinstance(r, dict) and r["echo"] == {"i": [i]} for i, r in results.items())
        assert len(results) == 24

    def test_r_error_is_a_clean_error_and_the_worker_lives_on(
        self, echo_pool: REntryScript
    ) -> None:
        pids = echo_pool.worker_pids
        with pytest.raises(RScriptError, match=r"Error in run\(data\): asked to fail: please"):
            echo_pool.score(ScoreRequest(body=b'{"fail": "please"}'))
        with pytest.raises(RScriptError, match="lexical error"):
            echo_pool.score(ScoreRequest(body=b"{not json"))
        assert score_json(echo_pool, {"ok": True})
        assert echo_pool.worker_pids == pids

    def test_crashed_worker_fails_its_request_and_is_restarted(
        self, echo_pool: REntryScript
    ) -> None:
        before = set(echo_pool.worker_pids)
        with pytest.raises(RWorkerCrashedError, match="exit status 7"):
            echo_pool.score(ScoreRequest(body=b'{"crash": true}'))
        wait_for(lambda: len(set(echo_pool.worker_pids) - before) == 1)
        after = set(echo_pool.worker_pids)
        assert len(after) == 2
        (dead,) = before - after
        assert not pid_alive(dead)
        for _ in range(4):
            assert score_json(echo_pool, {"again": 1})

    def test_worker_killed_while_idle_is_replaced_before_the_next_request(
        self, tmp_path: Path
    ) -> None:
        script = REntryScript(make_settings(tmp_path, ECHO_SCRIPT))
        script.init()
        try:
            (before,) = script.worker_pids
            os.kill(before, signal.SIGKILL)
            wait_for(lambda: not pid_alive(before))
            answer = score_json(script, {"after": "kill"})
            assert isinstance(answer, dict)
            assert answer["pid"] != [before]
            assert script.worker_pids == answer["pid"]
        finally:
            script.close()

    def test_restart_retries_until_init_succeeds_again(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings = make_settings(tmp_path, ECHO_SCRIPT)
        script = REntryScript(settings)
        script.init()
        try:
            (before,) = script.worker_pids
            greeting = tmp_path / "model" / "greeting.txt"
            greeting.rename(tmp_path / "aside.txt")
            with pytest.raises(RWorkerCrashedError):
                script.score(ScoreRequest(body=b'{"crash": true}'))
            wait_for(lambda: "restarting R worker 0 failed (try 2)" in caplog.text)
            (tmp_path / "aside.txt").rename(greeting)
            wait_for(lambda: script.worker_pids not in ([], [before]))
            assert score_json(script, {"back": True})
        finally:
            script.close()

    def test_hung_worker_times_out_and_is_replaced(self, tmp_path: Path) -> None:
        script = REntryScript(make_settings(tmp_path, ECHO_SCRIPT, scoring_timeout_ms=700))
        script.init()
        try:
            (before,) = script.worker_pids
            with pytest.raises(RWorkerTimeoutError, match="700 ms"):
                script.score(ScoreRequest(body=b'{"sleep": 30}'))
            wait_for(lambda: script.worker_pids not in ([], [before]))
            assert score_json(script, {"after": "timeout"})
        finally:
            script.close()

    def test_close_lets_an_in_flight_request_finish(self, tmp_path: Path) -> None:
        script = REntryScript(make_settings(tmp_path, ECHO_SCRIPT))
        script.init()
        answers: list[object] = []
        caller = threading.Thread(target=lambda: answers.append(score_json(script, {"sleep": 1})))
        caller.start()
        time.sleep(0.3)
        script.close()
        caller.join()
        assert len(answers) == 1
        assert isinstance(answers[0], dict)
        assert answers[0]["echo"] == {"sleep": [1]}

    def test_close_stops_every_process(self, tmp_path: Path) -> None:
        script = REntryScript(make_settings(tmp_path, ECHO_SCRIPT, r_workers=3))
        script.init()
        pids = script.worker_pids
        assert len(pids) == 3
        assert all(pid_alive(pid) for pid in pids)
        script.close()
        wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout_s=10)

    @pytest.mark.parametrize(
        ("script", "expected"),
        [
            (
                'init <- function() readRDS(file.path(Sys.getenv("AZUREML_MODEL_DIR"), "x.rds"))',
                "cannot open",
            ),
            ('init <- function() stop("the model is not there")', "the model is not there"),
            ("init <- function( {", "unexpected"),
            ("init <- function() 42", "init\\(\\) must return the scoring function"),
            ("score <- function(data) data", "does not define an init\\(\\) function"),
        ],
    )
    def test_bad_init_raises_entry_script_error_with_r_text(
        self, tmp_path: Path, script: str, expected: str
    ) -> None:
        entry = REntryScript(make_settings(tmp_path, script, r_workers=2))
        with pytest.raises(EntryScriptError, match=expected) as caught:
            entry.init()
        assert "score.R: init() failed in R" in str(caught.value)
        assert entry.worker_pids == []

    def test_missing_script_is_an_entry_script_error(self, tmp_path: Path) -> None:
        settings = make_settings(tmp_path, ECHO_SCRIPT, entry_script=Path("absent.R"))
        with pytest.raises(EntryScriptError, match=r"absent\.R does not exist"):
            REntryScript(settings).init()


def test_missing_rscript_is_an_entry_script_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EntryScriptError, match="Rscript was not found on PATH"):
        REntryScript(make_settings(tmp_path, ECHO_SCRIPT)).init()
