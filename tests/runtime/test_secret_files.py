"""Secrets as files: the ``MLWS_PRIMARY_KEY_FILE`` family of variables (the ``*_FILE`` convention).

The deployments mount keys as files and pass only their paths, so an entry script (and anything it
starts) never finds a key in its environment; the server reads each file once at start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from mlws.runtime.server import settings_error_message
from mlws.runtime.settings import RuntimeSettings, env_var_name
from tests.ports import free_port

KEY = "file-key-0123456789abcdef"

# Reports whether the key appears anywhere the script could read its environment from.
ENV_PROBE = """
    import json, os
    def init():
        pass
    def run(raw_data):
        needle = json.loads(raw_data)["needle"]
        with open("/proc/self/environ", "rb") as f:
            proc = f.read().decode(errors="replace")
        return {
            "in_os_environ": any(needle in v for v in os.environ.values()),
            "in_proc_environ": needle in proc,
            "file_variable": os.environ.get("MLWS_PRIMARY_KEY_FILE"),
        }
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("setting", ["primary_key", "secondary_key", "token_secret"])
def test_each_secret_is_read_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    path = write(tmp_path / setting, KEY + "\n")
    monkeypatch.setenv(env_var_name(f"{setting}_file"), str(path))
    monkeypatch.setenv(env_var_name("auth_mode"), "token" if setting == "token_secret" else "key")
    secret = getattr(RuntimeSettings(), setting)
    assert secret is not None
    assert secret.get_secret_value() == KEY  # one trailing newline dropped, nothing else


def test_the_file_variables_are_the_mlws_file_convention() -> None:
    assert env_var_name("primary_key_file") == "MLWS_PRIMARY_KEY_FILE"
    assert env_var_name("secondary_key_file") == "MLWS_SECONDARY_KEY_FILE"
    assert env_var_name("token_secret_file") == "MLWS_TOKEN_SECRET_FILE"


def test_inner_whitespace_of_a_key_file_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "k", " spaced key \n\n")
    settings = RuntimeSettings(auth_mode="key", primary_key_file=path)
    assert settings.primary_key is not None
    assert settings.primary_key.get_secret_value() == " spaced key \n"


def test_value_and_file_together_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "k", KEY)
    with pytest.raises(ValidationError, match="give MLWS_PRIMARY_KEY or MLWS_PRIMARY_KEY_FILE"):
        RuntimeSettings(auth_mode="key", primary_key="other", primary_key_file=path)


def test_an_unreadable_file_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ValidationError) as caught:
        RuntimeSettings(auth_mode="key", primary_key_file=missing)
    message = settings_error_message(caught.value)
    assert message == f"MLWS_PRIMARY_KEY_FILE: cannot read {missing}: No such file or directory"


def test_an_empty_key_file_is_no_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="auth_mode 'key' needs MLWS_PRIMARY_KEY"):
        RuntimeSettings(auth_mode="key", primary_key_file=write(tmp_path / "k", "\n"))


@pytest.mark.slow
def test_the_entry_script_cannot_find_the_key_in_its_environment(tmp_path: Path) -> None:
    """A real server given only the key's path: the key authenticates, the script never sees it."""
    (tmp_path / "score.py").write_text(textwrap.dedent(ENV_PROBE))
    key_file = write(tmp_path / "primary-key", KEY + "\n")
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLWS_", "AZUREML_", "AML_"))
    }
    env |= {
        "AML_APP_ROOT": str(tmp_path),
        "MLWS_PORT": str(port),
        "MLWS_AUTH_MODE": "key",
        "MLWS_PRIMARY_KEY_FILE": str(key_file),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mlws.runtime"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        body = {"needle": KEY}
        assert httpx.post(f"{url}/score", json=body).status_code == 401
        answer = httpx.post(f"{url}/score", json=body, headers={"authorization": f"Bearer {KEY}"})
        assert answer.status_code == 200
        assert answer.json() == {
            "in_os_environ": False,
            "in_proc_environ": False,
            "file_variable": str(key_file),
        }
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert KEY not in output
