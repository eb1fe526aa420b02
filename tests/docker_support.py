"""The Docker engine the real-engine tests use, provided by ``scripts/docker-engine``.

:func:`provide_engine` runs the script once per session (it is idempotent and takes well under a
second when the engine and the stand-in base images are already there): as root it installs and
starts the engine and makes the stand-in base images; elsewhere it uses an engine that answers or
says why there is none. Tests then skip with that reason, never fail, when no engine can be had or
when a base image is absent (an engine that cannot pull, without root to make a stand-in).
"""

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE_SCRIPT = REPO_ROOT / "scripts" / "docker-engine"
#: Cold, the script installs Debian packages and runs debootstrap: minutes on a busy machine.
ENGINE_SCRIPT_TIMEOUT = 1500


class EngineError(Exception):
    """A docker command failed; the message holds the command and its output."""


@dataclass(frozen=True)
class DockerEngine:
    """A Docker engine that answers, reached with :attr:`env`."""

    docker: str
    """The docker client."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment docker commands run with (``DOCKER_HOST`` set)."""

    def run(
        self, *args: str, timeout: float = 900, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGS``; raises :class:`EngineError` with its output when ``check`` fails."""
        done = subprocess.run(
            [self.docker, *args],
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and done.returncode != 0:
            raise EngineError(
                f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def has_image(self, ref: str) -> bool:
        """Whether the engine holds ``ref`` locally (nothing is pulled)."""
        return self.run("image", "inspect", ref, check=False, timeout=60).returncode == 0

    def inspect(self, template: str, *refs: str) -> str:
        """``docker inspect --format TEMPLATE REFS``, stripped."""
        return self.run("inspect", "--format", template, *refs, timeout=60).stdout.strip()

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        """Poll ``check()`` until it is true; AssertionError naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(0.25)


def provide_engine() -> DockerEngine | str:
    """The engine, or why there is none (for ``pytest.skip``)."""
    env = dict(os.environ)
    script_error = ""
    if ENGINE_SCRIPT.is_file():
        try:
            done = subprocess.run(
                ["bash", str(ENGINE_SCRIPT)],
                capture_output=True,
                text=True,
                timeout=ENGINE_SCRIPT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            script_error = f"scripts/docker-engine took over {ENGINE_SCRIPT_TIMEOUT}s"
        else:
            last = done.stdout.strip().splitlines()[-1:] or [""]
            if done.returncode == 0 and last[0].startswith("DOCKER_HOST="):
                env["DOCKER_HOST"] = last[0].partition("=")[2]
            else:
                errors = [x for x in done.stderr.splitlines() if x.strip()]
                script_error = errors[-1] if errors else f"exit {done.returncode}"
    docker = shutil.which("docker", path=env.get("PATH"))
    if docker is None:
        return f"no docker client ({script_error or 'scripts/docker-engine is absent'})"
    engine = DockerEngine(docker, env)
    try:
        if engine.run("info", check=False, timeout=30).returncode == 0:
            return engine
    except subprocess.TimeoutExpired:
        pass
    return f"no Docker engine answers: {script_error or 'docker info fails'}"


def require_base_image(engine: DockerEngine, ref: str) -> str | None:
    """Why ``ref`` cannot be built FROM (absent and never pulled), or None when present."""
    if engine.has_image(ref):
        return None
    return (
        f"base image {ref} is absent and is never pulled (scripts/docker-engine makes a "
        "stand-in when run as root)"
    )
