"""LocalWebService's lock-down, proven on the real Docker engine.

The container is started with exactly the settings ``container_args`` produces (each translated to
its ``docker run`` flag here; a setting this file cannot translate fails the test), from an image
built from mlws's own generated build context. It serves; writing outside the tmpfs fails; it runs
with no capabilities, ``no-new-privileges`` and the process and memory limits.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from mlws.components.build_context import plan_context, write_context
from mlws.components.dockerfile import base_image
from mlws.components.inference_config import InferenceConfig
from mlws.components.local_web_service import (
    container_args,
    env_list,
    parse_local_config,
    plain_env,
)
from mlws.runtime.settings import env_var_name
from tests.docker_support import DockerEngine, require_base_image
from tests.ports import free_port

KEY = "local-key-0123456789abcdef0123"
SCORE_PY = """
import json, os

def init():
    pass

def run(raw_data):
    return {"sum": sum(json.loads(raw_data)["data"]), "uid": os.getuid()}
"""


def docker_run_flags(args: Mapping[str, Any]) -> list[str]:
    """``docker run`` flags saying what each ``container_args`` setting says."""
    translate: dict[str, Callable[[Any], list[str]]] = {
        "name": lambda v: ["--name", v],
        "ports": lambda v: [
            f for p in v for f in ("-p", f"{p['ip']}:{p['external']}:{p['internal']}")
        ],
        "restart": lambda v: ["--restart", v],
        "labels": lambda v: [
            f for item in v for f in ("--label", f"{item['label']}={item['value']}")
        ],
        "healthcheck": lambda v: [
            "--health-cmd",
            shlex.join(v["tests"][1:]),  # exec form ["CMD", ...] as the shell form docker run takes
            "--health-interval",
            v["interval"],
            "--health-timeout",
            v["timeout"],
            "--health-start-period",
            v["start_period"],
            "--health-retries",
            str(v["retries"]),
        ],
        "must_run": lambda v: [],  # pulumi-docker's "keep it running", no docker run meaning
        "read_only": lambda v: ["--read-only"] if v else [],
        "init": lambda v: ["--init"] if v else [],
        "tmpfs": lambda v: [f for path, opts in v.items() for f in ("--tmpfs", f"{path}:{opts}")],
        "capabilities": lambda v: (
            [f for cap in v.get("drops", []) for f in ("--cap-drop", cap)]
            + [f for cap in v.get("adds", []) for f in ("--cap-add", cap)]
        ),
        "security_opts": lambda v: [f for opt in v for f in ("--security-opt", opt)],
        "ulimits": lambda v: [
            f for u in v for f in ("--ulimit", f"{u['name']}={u['soft']}:{u['hard']}")
        ],
        "cpus": lambda v: ["--cpus", v],
        "memory": lambda v: ["--memory", f"{v}m"],
        "memory_swap": lambda v: ["--memory-swap", f"{v}m"],
    }
    unknown = set(args) - set(translate)
    assert not unknown, f"container_args gained settings this test does not translate: {unknown}"
    return [flag for key, value in args.items() for flag in translate[key](value)]


@pytest.fixture(scope="module")
def scoring_image(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The generated image of a tiny entry script (built once; cached by its content tag)."""
    source = tmp_path_factory.mktemp("scoring")
    (source / "score.py").write_text(SCORE_PY)
    config = InferenceConfig(entry_script="score.py", source_directory=source)
    reason = require_base_image(docker_engine, base_image(config))
    if reason:
        pytest.skip(reason)
    context = plan_context(config, [])
    directory = tmp_path_factory.mktemp("context")
    write_context(context, directory)
    tag = f"mlws-test/lockdown:{context.tag}"
    if not docker_engine.has_image(tag):
        docker_engine.run("build", "-q", "-t", tag, str(directory), timeout=1500)
    return tag


@pytest.fixture
def running(docker_engine: DockerEngine, scoring_image: str) -> Iterator[tuple[str, str, Any]]:
    """The container run with exactly container_args' settings: (name, base url, args)."""
    port = free_port()
    config = parse_local_config(
        "lockdown",
        {
            "image": scoring_image,
            "host_port": port,
            "container_name": f"mlws-lockdown-{port}",
            "auth_enabled": True,
            "primary_key": KEY,
            "memory_gb": 0.5,
            "cpu_cores": 1,
            "tmp_size_gb": 0.0625,
            "pids_limit": 256,
            "initial_delay_seconds": 5,
        },
    )
    args = container_args(config)
    envs = env_list(plain_env(config), {env_var_name("primary_key"): KEY})
    env_flags = [flag for item in envs for flag in ("-e", item)]
    name = args["name"]
    docker_engine.run("run", "-d", *docker_run_flags(args), *env_flags, scoring_image)
    try:
        yield name, config.base_url, args
    finally:
        docker_engine.run("rm", "-f", name, check=False)


def wait_ready(url: str, docker_engine: DockerEngine, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    logs = docker_engine.run("logs", name, check=False)
    raise AssertionError(f"the container did not become ready:\n{logs.stdout}{logs.stderr}")


@pytest.mark.needs_docker
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_locked_down_container_serves_and_cannot_write_outside_its_tmpfs(
    docker_engine: DockerEngine, running: tuple[str, str, Any]
) -> None:
    name, url, args = running
    wait_ready(url, docker_engine, name)
    body = {"data": [1, 2, 3]}
    assert httpx.post(f"{url}/score", json=body, timeout=10).status_code == 401
    answer = httpx.post(
        f"{url}/score", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"sum": 6, "uid": 10001}

    def shell(command: str) -> subprocess.CompletedProcess[str]:
        return docker_engine.run("exec", name, "sh", "-c", command, check=False)

    for outside in ("/var/azureml-app/x", "/opt/mlws/x", "/etc/x", "/x"):
        wrote = shell(f"echo x > {outside}")
        assert wrote.returncode != 0, outside
        assert "Read-only file system" in wrote.stderr, wrote.stderr
    assert shell("echo x > /tmp/x && cat /tmp/x").stdout == "x\n"
    too_big = shell("head -c 80000000 /dev/zero > /tmp/big")  # 80 MB into a 64 MiB tmpfs
    assert too_big.returncode != 0
    assert "No space left on device" in too_big.stderr

    status = shell("cat /proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["CapBnd"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    limits = shell("grep 'Max processes' /proc/1/limits").stdout.split()
    assert limits[2:4] == ["256", "256"]

    config = json.loads(docker_engine.inspect("{{json .HostConfig}}", name))
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"]
    assert config["SecurityOpt"] == ["no-new-privileges"]
    assert config["Memory"] == 512 * 1024 * 1024
    assert config["MemorySwap"] == config["Memory"]
    assert config["NanoCpus"] == 1_000_000_000
    assert args["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=64m"}
    assert config["Tmpfs"] == args["tmpfs"]
