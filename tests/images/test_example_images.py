"""Every example's scoring image, built by the real Docker engine from the context its
ScoringImage wrote, run with LocalWebService's container settings and scored for real."""

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest

from mlws.components.deployment_config import secret_env_names
from mlws.components.dockerfile import HEALTHCHECK_COMMAND, USER_ID
from tests.docker_support import ENGINE_SCRIPT, DockerEngine
from tests.images.image_support import (
    EXAMPLES,
    IMAGE_EXAMPLES,
    BuiltImage,
    Container,
    RenderedImage,
    build,
    layers,
    local_config,
    rendered_image,
    running,
)

pytestmark = [pytest.mark.needs_docker, pytest.mark.slow, pytest.mark.timeout(1800)]

DIABETES_ROWS = [
    [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02],
    [-0.05, -0.04, -0.05, -0.03, 0.01, 0.02, 0.03, -0.04, -0.01, 0.0],
]
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 2.9, 5.6, 1.8]]
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
ACCIDENT = [
    {"dvcat": "10-24", "seatbelt": "none", "frontal": "frontal", "sex": "f", "ageOFocc": 22,
     "yearVeh": 2002, "airbag": "none", "occRole": "pass"},
    {"dvcat": "55+", "seatbelt": "belted", "frontal": "notfrontal", "sex": "m", "ageOFocc": 70,
     "yearVeh": 1995, "airbag": "airbag", "occRole": "driver"},
]  # fmt: skip


def _predict(model: Path, rows: list[list[float]]) -> list[float]:
    return [float(x) for x in joblib.load(model).predict(np.asarray(rows))]


def _r_predict(records: list[dict[str, Any]]) -> list[float]:
    if shutil.which("Rscript") is None:
        pytest.skip(
            "the expected R prediction needs Rscript on the host (scripts/test installs it)"
        )
    script = (
        "m <- readRDS(commandArgs(TRUE)[1]); d <- jsonlite::fromJSON(commandArgs(TRUE)[2]);"
        "cat(jsonlite::toJSON(as.numeric(predict(m, d, type = 'response') * 100), digits = NA))"
    )
    model = EXAMPLES / "r-accident" / "model" / "model.rds"
    done = subprocess.run(
        ["Rscript", "-e", script, str(model), json.dumps(records)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return [float(x) for x in json.loads(done.stdout)]


def scoring_cases(example: str) -> list[tuple[dict[str, Any] | list[Any], Callable[[Any], None]]]:
    """(request, check of the answer against the model's own prediction made outside)."""
    diabetes = EXAMPLES / "local-sklearn" / "model" / "model.joblib"

    def close_to(expected: list[float], tolerance: float = 1e-9) -> Callable[[Any], None]:
        def check(answer: Any) -> None:
            assert answer == pytest.approx(expected, rel=tolerance, abs=tolerance)

        return check

    if example == "local-sklearn":
        return [({"data": DIABETES_ROWS}, close_to(_predict(diabetes, DIABETES_ROWS)))]
    if example == "multi-model":
        iris = EXAMPLES / "multi-model" / "models" / "iris" / "model.joblib"
        classes = [IRIS_CLASSES[int(p)] for p in _predict(iris, IRIS_ROWS)]
        expected_diabetes = _predict(diabetes, DIABETES_ROWS)

        def check_diabetes(answer: Any) -> None:
            assert (answer["model"], answer["version"]) == ("diabetes", "1")
            assert answer["predictions"] == pytest.approx(expected_diabetes, rel=1e-9)

        def check_iris(answer: Any) -> None:
            assert answer == {"model": "iris", "version": "1", "predictions": classes}

        return [
            ({"model": "diabetes", "data": DIABETES_ROWS}, check_diabetes),
            ({"model": "iris", "data": IRIS_ROWS}, check_iris),
        ]
    assert example == "r-accident"
    return [(ACCIDENT, close_to(_r_predict(ACCIDENT), tolerance=1e-3))]


def score(container: Container, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{container.url}/score", json=body, headers=headers, timeout=60)


@pytest.fixture(params=IMAGE_EXAMPLES)
def image(request: pytest.FixtureRequest, example_image: Callable[[str], BuiltImage]) -> BuiltImage:
    return example_image(request.param)


def test_every_example_builds_from_a_base_the_engine_script_provides() -> None:
    """The stand-ins scripts/docker-engine makes cover every example's FROM (pure: no engine)."""
    script = ENGINE_SCRIPT.read_text()
    (line,) = [x for x in script.splitlines() if x.startswith("STANDIN_IMAGES=(")]
    standins = line.partition("(")[2].rstrip(")").split()
    for example in IMAGE_EXAMPLES:
        assert rendered_image(example).base_image in standins, example


def test_scores_like_the_model_with_key_auth(
    docker_engine: DockerEngine, image: BuiltImage, tmp_path: Path
) -> None:
    primary, secondary = f"p-{uuid.uuid4().hex}", f"s-{uuid.uuid4().hex}"
    config = local_config(image.rendered.example, auth_enabled=True, primary_key="x")
    names = secret_env_names(config)
    secrets = {names["primary_key"]: primary, names["secondary_key"]: secondary}
    with running(docker_engine, image.ref, config, tmp_path, secrets) as container:
        container.wait_ready()
        for body, check in scoring_cases(image.rendered.example):
            assert score(container, body).status_code == 401
            assert score(container, body, "wrong").status_code == 401
            for key in (primary, secondary):
                answer = score(container, body, key)
                assert answer.status_code == 200, answer.text
                check(answer.json())
        status = container.exec("cat", "/proc/1/status")
        uids = next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1:]
        assert uids == [str(USER_ID)] * 4
        assert container.exec("id", "-u").strip() == str(USER_ID)
    # The keys reach the container only at run time: never in the image's layers' history or config.
    history = docker_engine.run("history", "--no-trunc", image.ref).stdout
    config_json = docker_engine.run("image", "inspect", image.ref).stdout
    for secret in (primary, secondary):
        assert secret not in history
        assert secret not in config_json
    assert not [n for n in names.values() if n in config_json]


def test_image_healthcheck_reaches_healthy(
    docker_engine: DockerEngine, image: BuiltImage, tmp_path: Path
) -> None:
    """The image's own HEALTHCHECK (the runtime's probe; only the interval is shortened here)."""
    test = json.loads(docker_engine.inspect("{{json .Config.Healthcheck.Test}}", image.ref))
    assert test == ["CMD", *HEALTHCHECK_COMMAND]
    config = local_config(image.rendered.example)
    extra = ["--health-interval", "1s"]
    with running(docker_engine, image.ref, config, tmp_path, extra=extra, local_flags=False) as c:
        docker_engine.wait_for(
            "healthy", lambda: c.state("Health.Status") == "healthy", timeout=180
        )
        c.wait_ready(timeout=5)


SLOW_SCRIPTS = {
    "slow.py": "import time\n\ndef init():\n    pass\n\ndef run(raw):\n    time.sleep(3)\n"
    "    return {'slept': 3}\n",
    "slow.R": "init <- function() function(data) { Sys.sleep(3); '{\"slept\": 3}' }\n",
}


def test_docker_stop_lets_a_request_in_flight_finish(
    docker_engine: DockerEngine, image: BuiltImage, tmp_path: Path
) -> None:
    script = "slow.R" if image.rendered.example == "r-accident" else "slow.py"
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / script).write_text(SLOW_SCRIPTS[script])
    slow.chmod(0o755)
    (slow / script).chmod(0o644)
    extra = [
        "-v", f"{slow}:/opt/slow:ro", "-e", "AML_APP_ROOT=/opt/slow",
        "-e", f"AZUREML_ENTRY_SCRIPT={script}",
    ]  # fmt: skip
    config = local_config(image.rendered.example)
    with running(docker_engine, image.ref, config, tmp_path, extra=extra) as container:
        container.wait_ready()
        answers: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answers.append(score(container, {})))
        sender.start()
        time.sleep(1.0)
        started = time.monotonic()
        docker_engine.run("stop", "--time", "30", container.name, timeout=60)
        stop_seconds = time.monotonic() - started
        sender.join(timeout=30)
        assert answers, "the request in flight got no answer"
        assert answers[0].status_code == 200, answers[0].text
        assert answers[0].json() == {"slept": 3}
        assert container.state("ExitCode") == "0", container.logs()
        assert stop_seconds < 20, f"stopped only after {stop_seconds:.1f}s (SIGKILL?)"


def test_read_only_root_with_a_tmpfs_for_tmp(
    docker_engine: DockerEngine, image: BuiltImage, tmp_path: Path
) -> None:
    """LocalWebService's lockdown (a read-only root, a tmpfs on /tmp for HOME and Python's and
    R's temp files, no capabilities) serves; nothing outside /tmp is writable."""
    config = local_config(image.rendered.example)
    with running(docker_engine, image.ref, config, tmp_path) as container:
        assert container.state("Running") == "true"
        assert docker_engine.inspect("{{.HostConfig.ReadonlyRootfs}}", container.name) == "true"
        container.wait_ready()
        for body, check in scoring_cases(image.rendered.example):
            answer = score(container, body)
            assert answer.status_code == 200, answer.text
            check(answer.json())
        container.exec("touch", "/tmp/writable")
        for path in ("/var/azureml-app/x", "/opt/mlws/x", "/home-x"):
            denied = docker_engine.run("exec", container.name, "touch", path, check=False)
            assert denied.returncode != 0
            assert "Read-only file system" in denied.stderr


def test_what_must_be_writable(
    docker_engine: DockerEngine, example_image: Callable[[str], BuiltImage], tmp_path: Path
) -> None:
    """With a read-only root and no tmpfs at all: the Python image still serves (nothing must be
    writable), the R image does not start (R needs /tmp for its R_TempDir), as docs/images.md
    says."""
    python = example_image("local-sklearn")
    extra = ["--read-only"]
    config = local_config("local-sklearn")
    with running(
        docker_engine, python.ref, config, tmp_path, extra=extra, local_flags=False
    ) as container:
        container.wait_ready()
        ((body, check),) = scoring_cases("local-sklearn")
        check(score(container, body).json())
    r = example_image("r-accident")
    config = local_config("r-accident")
    with running(docker_engine, r.ref, config, tmp_path, extra=extra, local_flags=False) as c:
        docker_engine.wait_for("R to give up", lambda: c.state("Running") != "true", timeout=120)
        assert c.state("ExitCode") != "0"
        assert "cannot create 'R_TempDir'" in c.logs()


def test_unchanged_input_keeps_the_tag_and_rebuilds_nothing(
    docker_engine: DockerEngine, image: BuiltImage
) -> None:
    again = rendered_image(image.rendered.example)
    assert again.tag == image.rendered.tag
    rebuilt = build(docker_engine, again)
    assert rebuilt.image_id == image.image_id
    print(f"\n{image.rendered.example}: first build {image.seconds:.1f}s, "
          f"unchanged rebuild {rebuilt.seconds:.1f}s, size "
          f"{int(docker_engine.inspect('{{.Size}}', image.ref)) / 1e6:.0f} MB")  # fmt: skip


def _layers_before(dockerfile: str, instruction: str, base_layers: int) -> int:
    """Layers the image has below ``instruction``: the base's plus one per RUN/COPY before it."""
    lines = dockerfile.splitlines()
    before = lines[: lines.index(instruction)]
    return base_layers + sum(x.startswith(("RUN ", "COPY ")) for x in before)


@pytest.mark.parametrize("example", ["local-sklearn", "r-accident"])
def test_a_model_change_reuses_the_dependency_layers(
    docker_engine: DockerEngine,
    example_image: Callable[[str], BuiltImage],
    example: str,
    tmp_path: Path,
) -> None:
    """A new model version (a config change) rebuilds only the model and app layers; a new
    dependency rebuilds from requirements.txt on (shown once, on the python image). Timed."""
    image = example_image(example)
    version = str(1000 + uuid.uuid4().int % 100000)  # a fresh version: a real rebuild every run
    changed = rendered_image(example, overrides={"modelVersion": version})
    assert changed.tag != image.rendered.tag
    model_build = build(docker_engine, changed)
    try:
        base = len(layers(docker_engine, image.rendered.base_image))
        old, new = layers(docker_engine, image.ref), layers(docker_engine, model_build.ref)
        kept = _layers_before(
            image.rendered.dockerfile, "COPY models /var/azureml-app/azureml-models", base
        )
        assert new[:kept] == old[:kept]
        assert new[kept] != old[kept]
    finally:
        docker_engine.run("rmi", model_build.ref, check=False)

    if example != "local-sklearn":
        print(f"\n{example}: model-change rebuild {model_build.seconds:.1f}s")
        return  # the dependency layers work the same in every image: timed once
    # A dependency change, as ScoringImage renders one: one more line in requirements.txt.
    context = tmp_path / "context"
    shutil.copytree(image.rendered.context, context)
    with (context / "requirements.txt").open("a") as handle:
        handle.write("six==1.16.0\n")
    deps = RenderedImage(f"{example}-deps", context, "deps", (context / "Dockerfile").read_text())
    dependency_build = build(docker_engine, deps)
    pip_layer = _layers_before(
        image.rendered.dockerfile, "COPY requirements.txt /opt/mlws/requirements.txt", base
    )
    dep = layers(docker_engine, dependency_build.ref)
    assert dep[:pip_layer] == old[:pip_layer]
    assert dep[pip_layer] != old[pip_layer]
    print(f"\n{example}: model-change rebuild {model_build.seconds:.1f}s, "
          f"dependency-change rebuild {dependency_build.seconds:.1f}s")  # fmt: skip
