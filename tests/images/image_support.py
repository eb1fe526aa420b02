"""Build each example's scoring image once per session, from the context its ScoringImage wrote,
and run it with the settings LocalWebService gives its container."""

from __future__ import annotations

import contextlib
import json
import shlex
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mlws.components.local_web_service import (
    LocalDeploymentConfig,
    container_args,
    env_list,
    parse_local_config,
    plain_env,
)
from mlws.render import render_program
from tests.docker_support import DockerEngine
from tests.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
IMAGE_TYPE = "docker:index/image:Image"
#: Every example whose program builds a ScoringImage.
IMAGE_EXAMPLES = ("local-sklearn", "multi-model", "r-accident")
#: Where built test images are tagged (never pushed).
TEST_REPOSITORY = "mlws-test"
#: One build may take minutes cold (apt, pip) on a busy 2-core machine.
BUILD_TIMEOUT = 1500


@dataclass(frozen=True)
class RenderedImage:
    """What an example's ScoringImage registered: its build context and content tag."""

    example: str
    context: Path
    tag: str
    dockerfile: str

    @property
    def base_image(self) -> str:
        """The ``FROM`` image of the generated Dockerfile."""
        return next(x for x in self.dockerfile.splitlines() if x.startswith("FROM "))[5:].strip()


def rendered_image(example: str, overrides: dict[str, str] | None = None) -> RenderedImage:
    """Run ``examples/<example>`` under mocks: ScoringImage writes its build context, and the
    registered image's inputs say where and with which tag."""
    render = render_program(EXAMPLES / example, stack="dev", overrides=overrides)
    (image,) = render.of_type(IMAGE_TYPE)
    context = Path(image.inputs["build"]["context"])
    if not context.is_absolute():
        context = EXAMPLES / example / context
    tag = str(image.inputs["imageName"]).rpartition(":")[2]
    return RenderedImage(example, context, tag, (context / "Dockerfile").read_text())


@dataclass(frozen=True)
class BuiltImage:
    """An image the engine built from a rendered context."""

    rendered: RenderedImage
    ref: str
    image_id: str
    seconds: float
    log: str


def build(engine: DockerEngine, rendered: RenderedImage) -> BuiltImage:
    """``docker build`` the context, tagged ``mlws-test/<example>:<content tag>``."""
    ref = f"{TEST_REPOSITORY}/{rendered.example}:{rendered.tag}"
    start = time.monotonic()
    done = engine.run("build", "-t", ref, str(rendered.context), timeout=BUILD_TIMEOUT)
    seconds = time.monotonic() - start
    image_id = engine.inspect("{{.Id}}", ref)
    return BuiltImage(rendered, ref, image_id, seconds, done.stdout + done.stderr)


def layers(engine: DockerEngine, ref: str) -> list[str]:
    """The image's layer digests, base first."""
    return list(json.loads(engine.inspect("{{json .RootFS.Layers}}", ref)))


def local_config(name: str, **settings: Any) -> LocalDeploymentConfig:
    """LocalWebService's validated settings for a test container (a free port, a unique name)."""
    args: dict[str, Any] = {
        "image": "unused",
        "host_port": free_port(),
        "container_name": f"mlws-test-{name}-{uuid.uuid4().hex[:8]}",
    }
    args.update(settings)
    return parse_local_config(name, args)  # type: ignore[arg-type]


def run_flags(args: Mapping[str, Any]) -> list[str]:
    """``docker run`` flags for LocalWebService's ``container_args`` (every key it sets, or fail:
    a setting the component adds must be taught here, not silently dropped)."""
    flags: list[str] = []
    for key, value in args.items():
        if key == "name":
            flags += ["--name", value]
        elif key == "ports":
            for port in value:
                flags += ["-p", f"{port['ip']}:{port['external']}:{port['internal']}"]
        elif key == "restart":
            flags += ["--restart", value]
        elif key == "healthcheck":
            test = list(value["tests"])
            assert test[0] == "CMD", test
            flags += [
                "--health-cmd",
                shlex.join(test[1:]),
                "--health-interval",
                value["interval"],
                "--health-timeout",
                value["timeout"],
                "--health-start-period",
                value["start_period"],
                "--health-retries",
                str(value["retries"]),
            ]
        elif key == "labels":
            for label in value:
                flags += ["--label", f"{label['label']}={label['value']}"]
        elif key == "must_run":
            pass  # Pulumi's "the container must keep running": what `docker run -d` does
        elif key == "cpus":
            flags += ["--cpus", value]
        elif key == "memory":
            flags += ["--memory", f"{value}m"]
        elif key == "memory_swap":
            flags += ["--memory-swap", f"{value}m"]
        elif key == "init":
            flags += ["--init"] if value else []
        elif key == "read_only":
            flags += ["--read-only"] if value else []
        elif key == "tmpfs":
            for path, options in value.items():
                flags += ["--tmpfs", f"{path}:{options}"]
        elif key == "capabilities":
            flags += [f"--cap-drop={c}" for c in value.get("drops", [])]
            flags += [f"--cap-add={c}" for c in value.get("adds", [])]
        elif key == "security_opts":
            flags += [f"--security-opt={option}" for option in value]
        elif key == "ulimits":
            flags += [f"--ulimit={u['name']}={u['soft']}:{u['hard']}" for u in value]
        else:
            raise AssertionError(f"container_args has {key!r}: teach tests/images/run_flags it")
    return flags


@dataclass
class Container:
    """A running test container."""

    engine: DockerEngine
    name: str
    url: str

    def logs(self) -> str:
        """The container's output so far."""
        done = self.engine.run("logs", self.name, check=False, timeout=60)
        return done.stdout + done.stderr

    def state(self, field: str) -> str:
        """``docker inspect`` of ``.State.<field>``."""
        return self.engine.inspect(f"{{{{.State.{field}}}}}", self.name)

    def wait_ready(self, timeout: float = 180) -> None:
        """Until ``GET /ready`` answers 200 (AssertionError with the logs otherwise)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state("Running") != "true":
                raise AssertionError(f"container {self.name} exited:\n{self.logs()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.logs()}")

    def exec(self, *command: str) -> str:
        """``docker exec`` in the container; its stdout."""
        return self.engine.run("exec", self.name, *command, timeout=60).stdout


@contextlib.contextmanager
def running(
    engine: DockerEngine,
    image: str,
    config: LocalDeploymentConfig,
    env_dir: Path,
    secrets: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
    local_flags: bool = True,
) -> Iterator[Container]:
    """Run ``image`` as LocalWebService would with ``config``: its container settings (unless
    ``local_flags`` is off: then only its port and name) and environment, secrets through an env
    file in ``env_dir`` (never on a command line); removed afterwards."""
    settings = container_args(config)
    if not local_flags:
        settings = {k: settings[k] for k in ("name", "ports")}
    flags = run_flags(settings)
    env_file = env_dir / f"{config.container_name}.env"
    env_file.write_text("".join(f"{line}\n" for line in env_list(plain_env(config), secrets or {})))
    env_file.chmod(0o600)
    flags += ["--env-file", str(env_file)]
    name = str(config.container_name)
    engine.run("run", "-d", *flags, *extra, image, timeout=120)
    try:
        yield Container(engine, name, f"http://127.0.0.1:{config.host_port}")
    finally:
        engine.run("rm", "-f", name, check=False, timeout=120)
