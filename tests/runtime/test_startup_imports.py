"""Start-up cost: serving with key auth must not import what only token auth needs."""

import subprocess
import sys

CHECK = """
import sys
from pydantic import SecretStr
from mlws.runtime.auth import build_authenticator
from mlws.runtime.settings import RuntimeSettings
import mlws.runtime.server

auth = build_authenticator(RuntimeSettings(auth_mode="key", primary_key=SecretStr("k")))
assert auth.check(b"Bearer k") is None
print(sorted(m for m in ("jwt", "cryptography") if m in sys.modules))
"""


def test_key_auth_server_does_not_import_jwt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_token_auth_still_works_after_the_lazy_import() -> None:
    from pydantic import SecretStr

    from mlws.runtime.auth import build_authenticator
    from mlws.runtime.settings import RuntimeSettings

    auth = build_authenticator(RuntimeSettings(auth_mode="token", token_secret=SecretStr("s" * 32)))
    failure = auth.check(b"Bearer not-a-jwt")
    assert failure is not None
    assert failure.description == "the token is invalid"
