"""``mlws invoke``: send a scoring request, like the seed's ``invoke_webservice``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from mlws.cli._service import (
    AudienceOpt,
    CwdOpt,
    IssuerOpt,
    KeyOpt,
    OutputsOpt,
    ServiceArg,
    ServiceNameOpt,
    ServiceRef,
    StackOpt,
    TokenOpt,
    TokenSecretOpt,
    cli_errors,
    fail,
    one_line,
    resolve_service,
)
from mlws.service import ServiceOutputs


def _request_body(
    data: str | None, file: Path | None, stdin: bool, records: Path | None, wrap: str | None
) -> bytes:
    given = [
        name
        for name, present in (
            ("--data", data is not None),
            ("--file", file is not None),
            ("-", stdin),
            ("--records", records is not None),
        )
        if present
    ]
    if len(given) > 1:
        fail(f"give the request body once: got {' and '.join(given)}")
    if wrap is not None and records is None:
        fail("--wrap only applies to --records")
    if records is not None:
        from mlws.client import read_records, records_body

        return records_body(read_records(records), wrap)
    if data is not None:
        raw = data.encode("utf-8")
        source = "--data"
    elif file is not None and str(file) == "-":
        raw = sys.stdin.buffer.read()
        source = "stdin"
    elif file is not None:
        raw = file.read_bytes()
        source = str(file)
    elif stdin:
        raw = sys.stdin.buffer.read()
        source = "stdin"
    else:
        fail("give the request body: --data JSON, --file FILE, - (stdin) or --records TABLE")
    try:
        json.loads(raw)
    except ValueError as exc:
        fail(f"the request body from {source} is not valid JSON: {exc}")
    return raw


def _logs_hint(
    svc: ServiceOutputs, service: str | None, stack: str | None, outputs: Path | None
) -> str:
    """Where the service's side of a 5xx is: the same naming for ``mlws logs`` when it can tell
    where the logs are, else what ``mlws logs`` needs to find them."""
    from mlws.logsources import infer_kind

    if infer_kind(svc) is None:
        return (
            "the service's log says why (`mlws logs` finds it from --stack or --outputs, or "
            "--log-file / --container / --container-group / --selector)"
        )
    if stack is not None:
        named = f"--stack {stack}"
    elif outputs is not None:
        named = f"--outputs {outputs}"
    else:
        named = str(service)
    return f"`mlws logs {named}` shows the service's side"


def invoke(
    # Typer reads options from each command's signature: the shared ones are _service's aliases.
    service: ServiceArg = None,
    body_from_stdin: Annotated[
        str | None,
        typer.Argument(metavar="[-]", help="`-` reads the request body from stdin."),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Request body (JSON).", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="File holding the request body (JSON); - for stdin.",
            show_default=False,
        ),
    ] = None,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            help="A table (.csv or .json) sent as a JSON array of row objects, like "
            "invoke_webservice(service, toJSON(newdata)).",
            show_default=False,
        ),
    ] = None,
    wrap: Annotated[
        str | None,
        typer.Option("--wrap", help='Send --records as {"WRAP": [...]} instead of a bare array.'),
    ] = None,
    stack: StackOpt = None,
    cwd: CwdOpt = None,
    outputs: OutputsOpt = None,
    service_name: ServiceNameOpt = None,
    key: KeyOpt = None,
    use_key: Annotated[
        str,
        typer.Option(
            "--use-key", help="Which exported key to send in key auth: primary or secondary."
        ),
    ] = "primary",
    token: TokenOpt = None,
    token_secret: TokenSecretOpt = None,
    audience: AudienceOpt = None,
    issuer: IssuerOpt = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            "--deployment",
            help="Send the request to this deployment of an endpoint (AksEndpoint), whatever "
            "the traffic split; like `az ml online-endpoint invoke --deployment-name`.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 60.0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print status and request id on stderr.")
    ] = False,
) -> None:
    """Score a request on SERVICE and print the response body.

    Sends the right Authorization header: the key (primary unless --use-key secondary) in key
    auth, or a token minted from the signing secret in token auth. A non-2xx answer exits 1 with
    the server's message. --deployment pins the request to one deployment of an endpoint.
    """
    with cli_errors("invoke"):
        stdin = False
        if service == "-" and body_from_stdin is None:
            service, stdin = None, True
        elif body_from_stdin is not None:
            if body_from_stdin != "-":
                fail(f"unexpected argument {body_from_stdin!r} (only `-` for stdin)")
            stdin = True
        if use_key not in ("primary", "secondary"):
            fail(f"--use-key must be primary or secondary, not {use_key!r}")
        which: Literal["primary", "secondary"] = "primary" if use_key == "primary" else "secondary"
        body = _request_body(data, file, stdin, records, wrap)
        ref = ServiceRef(service, stack, cwd, outputs, service_name)
        svc = resolve_service(
            ref, key=key, token_secret=token_secret, audience=audience, issuer=issuer
        )
        if deployment is not None and svc.deployments is not None:
            if deployment not in svc.deployments:
                known = ", ".join(svc.deployments) or "none"
                fail(f"no deployment {deployment!r} on this endpoint (deployments: {known})")
        from mlws.client import authorization_for, server_message
        from mlws.client import invoke as post

        authorization = authorization_for(svc, key=key, token=token, use_key=which)
        import httpx

        console = Console(stderr=True)
        try:
            with console.status(f"Scoring on {svc.scoring_uri} ...", spinner="dots"):
                response = post(
                    svc, body, authorization=authorization, timeout=timeout, deployment=deployment
                )
        except httpx.TimeoutException:
            fail(f"no answer from {svc.scoring_uri} within {timeout:g}s (raise --timeout)")
        except httpx.HTTPError as exc:
            fail(f"cannot reach {svc.scoring_uri}: {exc}")
        request_id = response.headers.get("x-ms-request-id") or response.headers.get(
            "x-request-id", ""
        )
        if verbose:
            rid = f" (request id {request_id})" if request_id else ""
            typer.echo(f"HTTP {response.status_code} {response.reason_phrase}{rid}", err=True)
        if not response.is_success:
            message = one_line(server_message(response))
            if response.status_code == 401 and authorization is None:
                message += (
                    " (no credential was sent: pass --key or --token, or name the service "
                    "with --stack/--outputs so its keys are used)"
                )
            elif response.status_code >= 500:
                message += "; " + _logs_hint(svc, service, stack, outputs)
            fail(f"HTTP {response.status_code} {response.reason_phrase}: {message}")
        sys.stdout.write(response.text)
        if not response.text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``mlws invoke`` to ``app``."""
    app.command("invoke")(invoke)
