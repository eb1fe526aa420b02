"""``mlws:index:LocalProcessService``: ``mlws serve`` as a managed background process (no Docker).

The embedded default for trying a model on one machine: create starts ``mlws serve`` for a source
folder (entry script) and model folder on a port, detached and logging to a file, and waits until
it is ready; the state records pid, process start time, port, working folder and log path. Refresh
reports whether the process still runs and is ready (a vanished process drops out of the state, so
the next ``pulumi up`` starts it again); a change to the entry script, the content of the source or
model folder, or the configuration restarts it; a new host or port replaces it; delete stops it
(SIGTERM, then SIGKILL after a grace period).

Limits: the process runs on the machine that runs ``pulumi up`` and is only known to that machine
(another machine's refresh sees a pid that is not its own); it is not supervised (nothing restarts
it if it crashes between deployments, until the next ``pulumi up``), and it is not for production.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from mlws import health
from mlws.components._package import type_token
from mlws.components.credentials import credential_problem
from mlws.components.runtime_env import runtime_default, runtime_field, settings_env
from mlws.provider import local_process
from mlws.provider.custom_resource import CustomResource, Diff, Operation, ResourceError
from mlws.provider.local_process import ProcessRecord
from mlws.provider.wire import UNKNOWN, Props
from mlws.runtime.settings import AuthMode, env_var_name

MANAGED_SETTINGS = (
    "entry_script",
    "source_directory",
    "model_dir",
    "host",
    "port",
    "workers",
    "auth_mode",
    "primary_key",
    "secondary_key",
    "token_secret",
)
"""Runtime settings this resource sets; ``environment`` may not set their variables."""

DEFAULT_HOST: str = runtime_default("host")
"""Where the service listens unless ``host`` is given (the runtime's default)."""
DEFAULT_PORT: int = runtime_default("port")
"""The service's port unless ``port`` is given (the runtime's default)."""


class LocalProcessServiceInputs(BaseModel):
    """What to serve, where, and with which credentials."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    source_directory: str
    """Folder holding the entry script and its helper files (the seed's ``source_directory``)."""
    entry_script: str = runtime_field("entry_script")
    """Entry script (``.py`` or ``.R``), relative to ``sourceDirectory`` unless absolute."""
    model_dir: str | None = None
    """Model folder, served as ``AZUREML_MODEL_DIR``; its content is hashed: a change restarts."""
    host: str = runtime_field("host")
    """Interface to listen on. Keep the loopback default unless others must reach it."""
    port: int = runtime_field("port", ge=1)
    """TCP port the server listens on (8890 as the seed's); a change replaces the service."""
    workers: int = runtime_field("workers")
    """Worker processes."""
    auth_mode: AuthMode = runtime_field("auth_mode")
    """``none``, ``key`` or ``token``."""
    primary_key: SecretStr | None = None
    """Primary key (key auth)."""
    secondary_key: SecretStr | None = None
    """Secondary key (key auth)."""
    token_secret: SecretStr | None = None
    """HS256 token signing secret (token auth)."""
    environment: dict[str, str] | None = None
    """Further environment variables for the server, e.g. ``MLWS_SCORING_TIMEOUT_MS``."""
    log_file: str | None = None
    """Where the server's output goes; default ``$XDG_STATE_HOME/mlws/<name>-<port>.log``
    (``~/.local/state/...``)."""
    start_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    """How long start-up (``init()``) may take before create/update fails."""
    stop_grace_seconds: float = Field(default=10.0, ge=0, le=600)
    """How long a stop waits after SIGTERM before SIGKILL."""

    @field_validator("source_directory")
    @classmethod
    def _is_folder(cls, value: str) -> str:
        if not Path(value).is_dir():
            raise ValueError(f"no such folder: {value}")
        return value

    @field_validator("model_dir")
    @classmethod
    def _exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).exists():
            raise ValueError(f"no such file or folder: {value}")
        return value

    @field_validator("environment")
    @classmethod
    def _not_managed(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        managed = {env_var_name(s) for s in MANAGED_SETTINGS}
        clash = sorted(managed & set(value or {}))
        if clash:
            raise ValueError(f"sets {', '.join(clash)}: use this resource's own inputs instead")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LocalProcessServiceInputs:
        script = Path(self.entry_script)
        if not script.is_absolute():
            script = Path(self.source_directory) / script
        if not script.is_file():
            raise ValueError(f"entry_script: no such file: {script}")
        missing = credential_problem(
            self.auth_mode,
            {
                name
                for name in ("primary_key", "secondary_key", "token_secret")
                if getattr(self, name)
            },
            keys=("primary_key", "secondary_key"),
            source="",
        )
        if missing is not None:
            raise ValueError(f"auth_mode: {missing}")  # the mode asks for the missing credential
        return self


class LocalProcessServiceOutputs(BaseModel):
    """Where the service answers and which process serves it."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    url: str
    """Base URL, e.g. ``http://127.0.0.1:8890``."""
    scoring_uri: str
    """``POST`` scoring endpoint (``<url>/score``)."""
    swagger_uri: str
    """OpenAPI document (``<url>/swagger.json``)."""
    pid: int
    """Process id of the server (its process group and session id too)."""
    process_start_ticks: int | None = None
    """Process start time (clock ticks since boot), to tell it from a later process with the
    same pid."""
    started_at: str
    """When the process was started (UTC, ISO 8601)."""
    working_directory: str
    """Absolute source folder; the process runs there."""
    log_path: str
    """Absolute path of the server's log file."""
    source_hash: str
    """SHA-256 of the source folder's content."""
    model_hash: str | None = None
    """SHA-256 of the model folder's content."""
    healthy: bool
    """Whether the process ran and was ready at the last create, update or refresh."""


PORT_RELEASE_SECONDS = 2.0
"""How long a start waits for its port to be released (a just-stopped server's last threads)."""

READ_TIMEOUT_SECONDS = 10.0
"""Longest a refresh waits for a running process to answer ``/ready``."""

REPLACE_FIELDS = ("host", "port")
RESTART_FIELDS = (
    "source_directory",
    "entry_script",
    "model_dir",
    "source_hash",
    "model_hash",
    "workers",
    "auth_mode",
    "primary_key",
    "secondary_key",
    "token_secret",
    "environment",
    "log_file",
)
RECORD_FIELDS = ("start_timeout_seconds", "stop_grace_seconds")

DESCRIPTION = """\
`mlws serve` as a managed background process on this machine (the embedded default: no Docker).

Create starts the server for `sourceDirectory`/`entryScript` and `modelDir` on `host:port`, in its
own session with output appended to `logFile`, and waits until `/ready` answers (failing with the
log tail if start-up fails). Refresh reports whether the process (pid and start time) still runs
and is ready; a vanished process leaves the state, so the next `pulumi up` starts it again. A
change to the entry script, the content of the source or model folder, the credentials or the
environment restarts it; a new `host` or `port` replaces it; delete stops it (SIGTERM, then SIGKILL
after `stopGraceSeconds`).

Limits: one machine (the one running `pulumi up`), not supervised between deployments, not for
production: use the container, ACI or AKS services there."""


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def default_log_path(name: str, port: int) -> Path:
    """``$XDG_STATE_HOME/mlws/<name>-<port>.log`` (``~/.local/state`` when unset)."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "mlws" / f"{name or 'service'}-{port}.log"


def server_environment(spec: LocalProcessServiceInputs, base: dict[str, str]) -> dict[str, str]:
    """The server's environment: ``base`` without mlws/Azure ML settings, plus the spec's."""
    env = {k: v for k, v in base.items() if not k.startswith(("MLWS_", "AZUREML_", "AML_APP_ROOT"))}
    source = Path(spec.source_directory).resolve()
    settings: dict[str, Any] = {
        "source_directory": source,
        "entry_script": spec.entry_script,
        "model_dir": Path(spec.model_dir).resolve() if spec.model_dir else None,
        "host": spec.host,
        "port": spec.port,
        "workers": spec.workers,
        "auth_mode": spec.auth_mode,
        "primary_key": spec.primary_key.get_secret_value() if spec.primary_key else None,
        "secondary_key": spec.secondary_key.get_secret_value() if spec.secondary_key else None,
        "token_secret": spec.token_secret.get_secret_value() if spec.token_secret else None,
    }
    env.update(settings_env(settings))
    env.update(spec.environment or {})
    return env


def serve_argv() -> list[str]:
    """``mlws serve``; everything else is passed as settings in the environment."""
    return [*local_process.mlws_command(), "serve"]


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class LocalProcessServiceResource(CustomResource):
    """CRUD of the background ``mlws serve`` process."""

    token = type_token("LocalProcessService")
    description = DESCRIPTION
    inputs_model = LocalProcessServiceInputs
    outputs_model = LocalProcessServiceOutputs
    secret_fields = frozenset({"primary_key", "secondary_key", "token_secret"})

    def model_error_field(self, inputs: dict[str, Any]) -> str:
        """Cross-field errors start with the field name (``entry_script: ...``)."""
        return "entry_script"

    def check(self, olds: Props, news: Props) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Validate, then add the content hashes of the source and model folders."""
        checked, failures = super().check(olds, news)
        failures = [_split_field(name, reason) for name, reason in failures]
        if failures:
            return checked, failures
        for field, folder in (("source_hash", "source_directory"), ("model_hash", "model_dir")):
            path = checked.get(folder)
            if folder in news.unknown:
                checked[field] = UNKNOWN
            elif path:
                checked[field] = local_process.tree_hash(Path(path))
        return checked, failures

    def _spec(self, props: dict[str, Any]) -> LocalProcessServiceInputs:
        spec = self.validate({k: v for k, v in props.items() if k in self.input_names()})
        assert isinstance(spec, LocalProcessServiceInputs)
        return spec

    def _record(self, state: dict[str, Any]) -> ProcessRecord | None:
        pid = state.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            return None
        ticks = state.get("process_start_ticks")
        return ProcessRecord(pid=pid, start_ticks=ticks if isinstance(ticks, int) else None)

    def diff(self, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> Diff:
        """Host/port replace; content, script and configuration restart; dead process restarts."""
        fields = (*REPLACE_FIELDS, *RESTART_FIELDS, *RECORD_FIELDS)
        defaults = {
            name: field.get_default()
            for name, field in LocalProcessServiceInputs.model_fields.items()
            if not field.is_required()
        }
        changed = [
            f for f in fields if olds.get(f, defaults.get(f)) != news.get(f, defaults.get(f))
        ]
        record = self._record(olds)
        dead = record is None or not local_process.is_alive(record)
        return Diff(
            changed=changed,
            replaces=[f for f in changed if f in REPLACE_FIELDS],
            delete_before_replace=True,
            forced=dead or olds.get("healthy") is False,
        )

    def _start(self, props: dict[str, Any], op: Operation) -> dict[str, Any]:
        spec = self._spec(props)
        if not local_process.wait_port_free(spec.host, spec.port, PORT_RELEASE_SECONDS):
            raise ResourceError(
                f"cannot start {op.name}: {spec.host}:{spec.port} is already in use "
                "(another server, or a service this stack no longer tracks)"
            )
        log_path = Path(spec.log_file) if spec.log_file else default_log_path(op.name, spec.port)
        log_path = log_path.resolve()
        source = Path(spec.source_directory).resolve()
        started = time.time()
        record = local_process.start(
            serve_argv(), server_environment(spec, dict(os.environ)), source, log_path
        )
        url = _url(spec.host, spec.port)

        def abort() -> str | None:
            if not local_process.is_alive(record):
                code = local_process.exit_code(record)
                return "the server process exited" + (f" with code {code}" if code else "")
            return op.cancelled()

        check = health.HealthCheckSpec(
            scoring_uri=f"{url}/score",
            timeout_seconds=op.limit(spec.start_timeout_seconds),
            poll_interval_seconds=0.2,
            request_timeout_seconds=5.0,
            log_file=str(log_path),
        )
        result = health.check_health(check, abort=abort)
        if not result.healthy:
            local_process.stop(record, spec.stop_grace_seconds)
            raise ResourceError(f"{op.name}: mlws serve did not start: {result.describe()}")
        return {
            **{k: v for k, v in props.items() if k in self.input_names()},
            "source_hash": props.get("source_hash") or local_process.tree_hash(source),
            "model_hash": props.get("model_hash"),
            "url": url,
            "scoring_uri": f"{url}/score",
            "swagger_uri": f"{url}/swagger.json",
            "pid": record.pid,
            "process_start_ticks": record.start_ticks,
            "started_at": _iso(started),
            "working_directory": str(source),
            "log_path": str(log_path),
            "healthy": True,
        }

    def _preview(self, props: dict[str, Any]) -> dict[str, Any]:
        state = self.preview_state({k: v for k, v in props.items() if k in self.input_names()})
        host, port = props.get("host", DEFAULT_HOST), props.get("port", DEFAULT_PORT)
        if isinstance(host, str) and isinstance(port, int) and UNKNOWN not in (host, port):
            url = _url(host, port)
            state.update(url=url, scoring_uri=f"{url}/score", swagger_uri=f"{url}/swagger.json")
        return state

    def create(self, inputs: dict[str, Any], op: Operation) -> tuple[str, dict[str, Any]]:
        """Start the server and wait until it is ready."""
        host, port = inputs.get("host", DEFAULT_HOST), inputs.get("port", DEFAULT_PORT)
        resource_id = f"{host}:{port}"
        if op.preview:
            return resource_id, self._preview(inputs)
        return resource_id, self._start(inputs, op)

    def update(
        self, resource_id: str, olds: dict[str, Any], news: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        """Restart unless only timeouts changed and the process is alive and healthy."""
        diff = self.diff(resource_id, olds, news)
        if op.preview:
            return self._preview(news)
        restart = diff.forced or any(f not in RECORD_FIELDS for f in diff.changed)
        if not restart:
            kept = {k: olds.get(k) for k in self.output_names()}
            return {**{k: v for k, v in news.items() if k in self.input_names()}, **kept}
        record = self._record(olds)
        if record is not None:
            grace = olds.get("stop_grace_seconds")
            local_process.stop(record, float(grace) if grace is not None else 10.0)
        return self._start(news, op)

    def read(self, resource_id: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The state with ``healthy`` updated; an empty id when the process is gone."""
        record = self._record(state)
        if record is None or not local_process.is_alive(record):
            return "", {}
        url = state.get("url") or _url(
            state.get("host", DEFAULT_HOST), state.get("port", DEFAULT_PORT)
        )
        check = health.HealthCheckSpec(
            scoring_uri=f"{url}/score",
            timeout_seconds=READ_TIMEOUT_SECONDS,
            poll_interval_seconds=0.5,
            request_timeout_seconds=READ_TIMEOUT_SECONDS / 2,
        )
        return resource_id, {**state, "healthy": health.check_health(check).healthy}

    def delete(self, resource_id: str, state: dict[str, Any]) -> None:
        """Stop the process (if it still is the one this resource started)."""
        record = self._record(state)
        if record is not None:
            grace = state.get("stop_grace_seconds")
            local_process.stop(record, float(grace) if grace is not None else 10.0)


def _split_field(name: str, reason: str) -> tuple[str, str]:
    """A cross-field error ``"Value error, auth_mode: ..."`` is reported on the field it names."""
    text = reason.removeprefix("Value error, ")
    head, sep, rest = text.partition(": ")
    if sep and head in LocalProcessServiceInputs.model_fields:
        return head, rest
    return name, text
