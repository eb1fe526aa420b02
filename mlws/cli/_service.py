"""What the operations commands (invoke, keys, token, logs) share: naming a service, and errors.

A service is named by a URL (``--key``/``--token``/``--token-secret`` give its credentials), by an
outputs JSON file, or by a Pulumi stack (``--stack``); :func:`resolve_service` turns whichever was
given (a :class:`ServiceRef`) into a :class:`~mlws.service.ServiceOutputs`. :func:`cli_errors`
turns every failure into one ``mlws COMMAND: error: ...`` line on stderr and exit code 1 (usage
errors: exit code 2).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import SecretStr

from mlws.service import (
    ServiceError,
    ServiceOutputs,
    load_outputs_file,
    read_stack_outputs,
)

ServiceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="SERVICE",
        help="Service URL (http://host:port or http://host:port/score) or a JSON outputs file. "
        "Omit when using --stack or --outputs.",
        show_default=False,
    ),
]
StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="Pulumi stack ORG/PROJECT/STACK (or a stack name with --cwd); "
        "reads `pulumi stack output --json --show-secrets`.",
        show_default=False,
    ),
]
CwdOpt = Annotated[
    Path | None,
    typer.Option("--cwd", help="Pulumi project folder for --stack.", show_default=False),
]
OutputsOpt = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        help="JSON file of stack outputs (`pulumi stack output --json --show-secrets > FILE`).",
        show_default=False,
    ),
]
ServiceNameOpt = Annotated[
    str | None,
    typer.Option(
        "--service",
        help="Name of the service object when the stack exports several services.",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key", envvar="MLWS_KEY", help="Service key to send (key auth).", show_default=False
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="MLWS_TOKEN",
        help="Access token to send as is (token auth).",
        show_default=False,
    ),
]
TokenSecretOpt = Annotated[
    str | None,
    typer.Option(
        "--token-secret",
        envvar="MLWS_TOKEN_SECRET",
        help="The service's HS256 signing secret, to mint a token (token auth).",
        show_default=False,
    ),
]
AudienceOpt = Annotated[
    str | None,
    typer.Option("--audience", help="Token `aud` claim the service expects.", show_default=False),
]
IssuerOpt = Annotated[
    str | None,
    typer.Option("--issuer", help="Token `iss` claim the service expects.", show_default=False),
]


class CliError(Exception):
    """A user-facing failure; its message is printed as one line."""


def fail(message: str) -> NoReturn:
    """Raise a :class:`CliError` (caught by :func:`cli_errors`)."""
    raise CliError(message)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so a message fits one line; cut it at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@contextmanager
def cli_errors(command: str) -> Iterator[None]:
    """Print any failure inside as one ``mlws COMMAND: error: ...`` line on stderr and exit 1
    (130 on Ctrl-C)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (CliError, ServiceError, ValueError) as exc:
        _die(command, str(exc))
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        _die(command, f"{exc.strerror or exc}{where}")
    except Exception as exc:  # the CLI must never print a traceback
        _die(command, f"unexpected {type(exc).__name__}: {exc}")


def _die(command: str, message: str) -> NoReturn:
    sys.stdout.flush()
    typer.echo(f"mlws {command}: error: {one_line(message, 1000)}", err=True)
    raise typer.Exit(1)


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """How the command line named a service, in the order every command declares the options:
    the SERVICE argument, ``--stack`` (with ``--cwd``), ``--outputs``, and ``--service`` for
    outputs that hold several services."""

    service: str | None
    stack: str | None
    cwd: Path | None
    outputs: Path | None
    service_name: str | None


def resolve_service(
    ref: ServiceRef,
    *,
    key: str | None = None,
    token_secret: str | None = None,
    audience: str | None = None,
    issuer: str | None = None,
) -> ServiceOutputs:
    """Turn the SERVICE argument and the naming options into the service's description.

    Exactly one of a URL/file argument, ``--stack`` and ``--outputs`` must be given. Explicit
    ``--token-secret``/``--audience``/``--issuer`` override what the outputs say; ``--key`` is
    applied by the caller (it is a choice of credential, not a property of the service).
    """
    given = [
        name
        for name, value in (
            ("SERVICE", ref.service),
            ("--stack", ref.stack),
            ("--outputs", ref.outputs),
        )
        if value
    ]
    if not given:
        fail("name the service: a URL, an outputs JSON file, --stack STACK or --outputs FILE")
    if len(given) > 1:
        fail(f"name the service once: got {' and '.join(given)}")
    if ref.cwd is not None and ref.stack is None:
        fail("--cwd only applies to --stack")
    if ref.service is not None:
        if ref.service.startswith(("http://", "https://")):
            if ref.service_name is not None:
                fail("--service only applies to stack outputs, not to a URL")
            return ServiceOutputs.from_url(
                ref.service,
                key=key,
                token_secret=token_secret,
                token_audience=audience,
                token_issuer=issuer,
            )
        path = Path(ref.service)
        if not path.is_file():
            fail(f"SERVICE {ref.service!r} is neither an http(s) URL nor an outputs JSON file")
        data = load_outputs_file(path)
    elif ref.outputs is not None:
        data = load_outputs_file(ref.outputs)
    else:
        assert ref.stack is not None
        from rich.console import Console

        with Console(stderr=True).status(f"Reading the outputs of stack {ref.stack} ..."):
            data = read_stack_outputs(ref.stack, ref.cwd)
    resolved = ServiceOutputs.from_outputs(data, ref.service_name)
    overrides: dict[str, object] = {}
    if token_secret:
        overrides["token_secret"] = SecretStr(token_secret)
        if resolved.auth_mode != "token":
            overrides["auth_mode"] = "token"
    if audience:
        overrides["token_audience"] = audience
    if issuer:
        overrides["token_issuer"] = issuer
    return resolved.model_copy(update=overrides) if overrides else resolved
