"""Runtime settings: the configuration contract between images and the components that run them.

Every field is read from an environment variable named ``MLWS_<FIELD>`` (upper case), except the
three Azure ML names (``AZUREML_MODEL_DIR``, ``AZUREML_ENTRY_SCRIPT``, ``AML_APP_ROOT``) kept for
compatibility with scripts written for Azure ML. The Pulumi components render container environments
with :func:`env_var_name`, so a name is defined here once and nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MLWS_"

AuthMode = Literal["none", "key", "token"]

#: Secret settings that may also be read from a file named by ``<variable>_FILE``.
SECRET_FIELDS: tuple[str, ...] = ("primary_key", "secondary_key", "token_secret")

#: Fields whose variable is an Azure ML name rather than ``MLWS_<FIELD>``.
AZUREML_ENV_NAMES: dict[str, str] = {
    "model_dir": "AZUREML_MODEL_DIR",
    "entry_script": "AZUREML_ENTRY_SCRIPT",
    "source_directory": "AML_APP_ROOT",
}


def env_var_name(field: str) -> str:
    """Return the environment variable that sets runtime setting ``field``."""
    if field not in RuntimeSettings.model_fields:
        raise KeyError(f"unknown runtime setting {field!r}")
    return AZUREML_ENV_NAMES.get(field, ENV_PREFIX + field.upper())


def unset_variable_hint(name: str) -> str | None:
    """For a runtime setting's variable, what sets it: ``AZUREML_MODEL_DIR is not set (mlws serve
    --model-dir sets it)``; None for any other name."""
    for field in RuntimeSettings.model_fields:
        if env_var_name(field) == name:
            return f"{name} is not set (mlws serve --{field.replace('_', '-')} sets it)"
    return None


def scrub_secret_environment() -> None:
    """Remove the secret settings' variables from ``os.environ`` (call once settings are read), so
    neither the entry script nor the processes it starts can read them (``*_FILE`` paths stay)."""
    for field in SECRET_FIELDS:
        os.environ.pop(env_var_name(field), None)


class RuntimeSettings(BaseSettings):
    """How one scoring server runs: what it serves, who may call it, and its limits."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    entry_script: Path = Field(
        default=Path("score.py"),
        validation_alias=AliasChoices("entry_script", "AZUREML_ENTRY_SCRIPT"),
    )
    """Entry script (``.py`` or ``.R``), relative to ``source_directory`` unless absolute."""

    source_directory: Path = Field(
        default=Path("."), validation_alias=AliasChoices("source_directory", "AML_APP_ROOT")
    )
    """Folder holding the entry script and its helper files; put on ``sys.path``."""

    model_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("model_dir", "AZUREML_MODEL_DIR")
    )
    """The model folder (one model) or the folder of ``$MODEL_NAME/$VERSION`` folders (several)."""

    host: str = "127.0.0.1"
    """Interface to listen on; images set ``0.0.0.0``."""

    port: int = Field(default=8890, ge=0, le=65535)
    """TCP port (8890 as in the seed's ``local_webservice_deployment_config``)."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes, each with its own copy of the model."""

    auth_mode: AuthMode = "none"
    """``none``, ``key`` (``Authorization: Bearer <primary or secondary key>``) or ``token``
    (JWT)."""

    primary_key: SecretStr | None = None
    """Primary service key (key auth)."""

    secondary_key: SecretStr | None = None
    """Secondary service key (key auth), so clients can move while the other key rotates."""

    token_secret: SecretStr | None = None
    """HS256 signing secret for token auth."""

    primary_key_file: Path | None = None
    """File holding the primary key (e.g. a mounted Kubernetes Secret), instead of
    ``MLWS_PRIMARY_KEY``: the key then never sits in the process environment."""

    secondary_key_file: Path | None = None
    """File holding the secondary key, instead of ``MLWS_SECONDARY_KEY``."""

    token_secret_file: Path | None = None
    """File holding the HS256 token secret, instead of ``MLWS_TOKEN_SECRET``."""

    token_jwks_url: str | None = None
    """JWKS URL (or OIDC discovery URL ending in ``/.well-known/openid-configuration``) for
    RS256/ES256 tokens."""

    token_audience: str | None = None
    """Required ``aud`` claim, checked when set."""

    token_issuer: str | None = None
    """Required ``iss`` claim, checked when set. With neither secret nor JWKS URL, the issuer's
    ``/.well-known/openid-configuration`` names the JWKS."""

    scoring_timeout_ms: int = Field(default=60_000, ge=1)
    """A request whose scoring takes longer gets 504 (Azure ML's ``scoring_timeout_ms``)."""

    max_concurrent_requests: int = Field(default=1, ge=1)
    """Requests scored at once per worker process (Azure ML's
    ``replica_max_concurrent_requests``)."""

    max_request_wait_ms: int = Field(default=500, ge=0)
    """How long a request may queue for a scoring slot before 503 (``max_request_wait_time``)."""

    max_request_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    """Largest request body accepted; larger ones get 413."""

    max_header_bytes: int = Field(default=32768, ge=1024)
    """Largest request line plus headers; larger heads get 431 and the connection is closed."""

    max_headers: int = Field(default=100, ge=1)
    """Most request headers; more get 431 and the connection is closed."""

    header_timeout_ms: int = Field(default=10_000, ge=1)
    """Time a client has to send a request's headers, from its first byte (or from connecting);
    later: 408 and the connection closed (slowloris)."""

    keep_alive_timeout_ms: int = Field(default=5_000, ge=1)
    """An idle keep-alive connection is closed after this long."""

    batch_max_size: int = Field(default=0, ge=0)
    """Micro-batching: most requests grouped into one batch call; 0 turns batching off."""

    batch_max_wait_ms: float = Field(default=0.0, ge=0)
    """Micro-batching: longest a request waits for others to join its batch. At 0 a batch takes
    what arrived in the same event-loop turn, plus what queued while the previous batch ran."""

    r_workers: int = Field(default=1, ge=1, le=64)
    """Long-lived R processes per worker for ``.R`` entry scripts."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of the server and the request log."""

    strict_json: bool = False
    """Check ``POST /score`` bodies before the script sees them: a non-JSON ``Content-Type``
    gets 415, an empty, non-UTF-8 or malformed JSON body gets 400. ``false`` (the default, as
    azmlinfsrv) passes any body to an undecorated ``run()`` unchecked."""

    metrics_auth: bool = False
    """Whether ``GET /metrics`` needs the credentials ``/score`` needs (off: scrapers need none)."""

    metrics_dir: Path | None = None
    """Folder where worker processes share metrics; the server makes one when ``workers > 1``."""

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """Fill each secret from its ``*_file`` (one trailing newline dropped), read once here."""
        if not isinstance(data, dict):
            return data
        values = dict(data)
        for field in SECRET_FIELDS:
            path = values.get(f"{field}_file")
            if path is None or str(path) == "":
                continue
            variable = ENV_PREFIX + field.upper()
            if values.get(field) not in (None, ""):
                raise ValueError(f"give {variable} or {variable}_FILE, not both")
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                reason = getattr(error, "strerror", None) or str(error)
                raise ValueError(f"{variable}_FILE: cannot read {path}: {reason}") from None
            values[field] = text.removesuffix("\n").removesuffix("\r")
        return values

    @model_validator(mode="after")
    def _auth_has_credentials(self) -> RuntimeSettings:
        def given(secret: SecretStr | None) -> bool:
            return secret is not None and secret.get_secret_value() != ""

        if self.auth_mode == "key" and not (given(self.primary_key) or given(self.secondary_key)):
            raise ValueError(
                "auth_mode 'key' needs MLWS_PRIMARY_KEY or MLWS_SECONDARY_KEY (--primary-key; "
                "or MLWS_PRIMARY_KEY_FILE, MLWS_SECONDARY_KEY_FILE)"
            )
        if self.auth_mode == "token" and not (
            given(self.token_secret) or self.token_jwks_url or self.token_issuer
        ):
            raise ValueError(
                "auth_mode 'token' needs MLWS_TOKEN_SECRET, MLWS_TOKEN_JWKS_URL or "
                "MLWS_TOKEN_ISSUER (--token-secret; or MLWS_TOKEN_SECRET_FILE)"
            )
        return self

    @property
    def token_keys_url(self) -> str | None:
        """Where RS256/ES256 keys come from: ``token_jwks_url``, or else (with no secret) the OIDC
        discovery document of ``token_issuer``."""
        if self.token_jwks_url:
            return self.token_jwks_url
        if self.token_issuer and self.token_secret is None:
            return self.token_issuer.rstrip("/") + "/.well-known/openid-configuration"
        return None

    @property
    def entry_script_path(self) -> Path:
        """The entry script's absolute location."""
        script = self.entry_script
        return script if script.is_absolute() else (self.source_directory / script).resolve()
