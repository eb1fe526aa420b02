"""``mlws token``: a token for a token-auth service, like the seed's ``get_webservice_token``.

The token is minted locally with the service's HS256 signing secret (a secret stack output), so
getting one depends on no remote region. For a service that trusts an external OIDC issuer (JWKS
mode) the command explains how to get a token from that issuer instead.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mlws.cli._service import (
    AudienceOpt,
    CwdOpt,
    IssuerOpt,
    OutputsOpt,
    ServiceArg,
    ServiceNameOpt,
    ServiceRef,
    StackOpt,
    TokenSecretOpt,
    cli_errors,
    fail,
    resolve_service,
)


def token(
    # Typer reads options from each command's signature: the shared ones are _service's aliases.
    service: ServiceArg = None,
    stack: StackOpt = None,
    cwd: CwdOpt = None,
    outputs: OutputsOpt = None,
    service_name: ServiceNameOpt = None,
    token_secret: TokenSecretOpt = None,
    audience: AudienceOpt = None,
    issuer: IssuerOpt = None,
    ttl: Annotated[
        str, typer.Option("--ttl", help="Token lifetime: seconds, or 90s, 15m, 2h, 1d.")
    ] = "1h",
    subject: Annotated[str, typer.Option("--subject", help="Token `sub` claim.")] = "mlws-cli",
    raw: Annotated[
        bool, typer.Option("--raw", help="Print only the access token (for scripts).")
    ] = False,
) -> None:
    """Print an access token for SERVICE with refresh_after and expires_on (JSON).

    Send it as `Authorization: Bearer <access_token>` and get a new one after refresh_after.
    """
    with cli_errors("token"):
        from mlws.client import mint_token
        from mlws.tokens import parse_duration

        ttl_seconds = parse_duration(ttl)
        ref = ServiceRef(service, stack, cwd, outputs, service_name)
        svc = resolve_service(ref, token_secret=token_secret, audience=audience, issuer=issuer)
        if svc.effective_auth_mode != "token":
            hint = "use `mlws keys`" if svc.effective_auth_mode == "key" else "no credential needed"
            fail(
                f"the service uses {svc.effective_auth_mode!r} auth, not token auth ({hint}); "
                "pass --token-secret if it does use tokens"
            )
        issued = mint_token(svc, ttl_seconds=ttl_seconds, subject=subject)
        if raw:
            typer.echo(issued.access_token)
        else:
            typer.echo(json.dumps(issued.as_dict(), indent=2))


def register(app: typer.Typer) -> None:
    """Add ``mlws token`` to ``app``."""
    app.command("token")(token)
