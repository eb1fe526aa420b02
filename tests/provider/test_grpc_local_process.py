"""mlws:index:LocalProcessService (and a HealthGate in front of it) over gRPC, real ``mlws serve``.

The plugin starts ``mlws serve`` for a tiny entry script written into the test's tmp folder; the
tests check the whole lifecycle: create (ready, answering), diff (nothing / update / replace),
update (restart on model change), read (alive, then gone), delete (process and port released).
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from pulumi.runtime import proto

from mlws.provider.local_process import ProcessRecord, is_alive, port_in_use, process_start_ticks
from tests.ports import free_port
from tests.provider.plugin_harness import Plugin, decode, details, encode, state, urn

pytestmark = pytest.mark.slow

TOKEN = "mlws:index:LocalProcessService"
GATE = "mlws:index:HealthGate"

SCRIPT = textwrap.dedent(
    """
    import json
    import os

    def init():
        global factor
        with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "factor.txt")) as handle:
            factor = float(handle.read())

    def run(raw_data):
        data = json.loads(raw_data)["data"]
        if data == "boom":
            raise ValueError("boom from run()")
        return {"result": [x * factor for x in data]}
    """
)


@pytest.fixture
def service_dirs(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "scoring"
    model = tmp_path / "model"
    source.mkdir()
    model.mkdir()
    (source / "score.py").write_text(SCRIPT)
    (model / "factor.txt").write_text("2")
    return source, model


def _inputs(source: Path, model: Path, port: int, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "source_directory": str(source),
        "model_dir": str(model),
        "port": port,
        "auth_mode": "key",
        "primary_key": "pk-123",
        "log_file": str(tmp_path / "service.log"),
        "start_timeout_seconds": 60,
        "stop_grace_seconds": 5,
        **extra,
    }


def _score(url: str, data: Any, key: str = "pk-123") -> httpx.Response:
    return httpx.post(
        f"{url}/score", json={"data": data}, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def _record(values: dict[str, Any]) -> ProcessRecord:
    return ProcessRecord(values["pid"], values["process_start_ticks"])


def test_check_names_each_bad_field(plugin: Plugin, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    response = plugin.check(
        TOKEN,
        {
            "source_directory": str(tmp_path / "missing"),
            "port": 70000,
            "workers": 0,
            "environment": {"MLWS_PORT": "1"},
        },
    )
    by_field = {f.property: f.reason for f in response.failures}
    assert set(by_field) == {"sourceDirectory", "port", "workers", "environment"}
    assert "no such folder" in by_field["sourceDirectory"]
    assert "MLWS_PORT" in by_field["environment"]

    no_script = plugin.check(TOKEN, {"source_directory": str(tmp_path / "src")})
    assert [(f.property, "no such file" in f.reason) for f in no_script.failures] == [
        ("entryScript", True)
    ]
    (tmp_path / "src" / "score.py").write_text("def init(): pass\n")
    no_key = plugin.check(TOKEN, {"source_directory": str(tmp_path / "src"), "auth_mode": "key"})
    assert [f.property for f in no_key.failures] == ["authMode"]


def test_check_adds_content_hashes_and_keeps_keys_secret(
    plugin: Plugin, service_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    source, model = service_dirs
    checked = plugin.checked(TOKEN, _inputs(source, model, 8890, tmp_path))
    props = decode(checked)
    assert len(props.values["source_hash"]) == 64
    first_model_hash = props.values["model_hash"]
    assert "primary_key" in props.secret
    (model / "factor.txt").write_text("3")
    again = decode(plugin.checked(TOKEN, _inputs(source, model, 8890, tmp_path))).values
    assert again["model_hash"] != first_model_hash
    assert again["source_hash"] == props.values["source_hash"]


def test_lifecycle_with_a_health_gate(
    plugin: Plugin, service_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    source, model = service_dirs
    port = free_port()
    inputs = _inputs(source, model, port, tmp_path)
    checked = plugin.checked(TOKEN, inputs)

    preview = plugin.stub.Create(
        proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=60, preview=True)
    )
    assert state(preview.properties)["scoring_uri"] == f"http://127.0.0.1:{port}/score"
    assert not port_in_use("127.0.0.1", port)

    created = plugin.stub.Create(
        proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=60)
    )
    values = state(created.properties)
    try:
        assert created.id == f"127.0.0.1:{port}"
        assert values["healthy"] is True
        assert "primary_key" in decode(created.properties).secret
        assert is_alive(_record(values))
        assert values["process_start_ticks"] == process_start_ticks(values["pid"])
        assert _score(values["url"], [1, 2]).json() == {"result": [2.0, 4.0]}
        assert _score(values["url"], [1], key="wrong").status_code == 401
        assert Path(values["log_path"]).is_file()

        _health_gate_round(plugin, values)

        # Diff: nothing / record-only update / restart update / replace
        def diff(news: dict[str, Any]) -> proto.DiffResponse:
            response: proto.DiffResponse = plugin.stub.Diff(
                proto.DiffRequest(
                    urn=urn(TOKEN),
                    id=created.id,
                    olds=created.properties,
                    news=plugin.checked(TOKEN, news),
                )
            )
            return response

        assert diff(inputs).changes == proto.DiffResponse.DIFF_NONE
        timeout_only = diff({**inputs, "start_timeout_seconds": 30})
        assert timeout_only.changes == proto.DiffResponse.DIFF_SOME
        assert list(timeout_only.replaces) == []
        moved = diff({**inputs, "port": port + 1})
        assert list(moved.replaces) == ["port"]
        assert moved.deleteBeforeReplace
        (model / "factor.txt").write_text("10")
        new_model = diff(inputs)
        assert list(new_model.diffs) == ["modelHash"]
        assert list(new_model.replaces) == []

        # Update: a new model restarts the server, which then serves the new model
        updated = plugin.stub.Update(
            proto.UpdateRequest(
                urn=urn(TOKEN),
                id=created.id,
                olds=created.properties,
                news=plugin.checked(TOKEN, inputs),
                timeout=60,
            )
        )
        new_values = state(updated.properties)
        assert new_values["pid"] != values["pid"]
        assert not is_alive(_record(values))
        assert _score(new_values["url"], [1, 2]).json() == {"result": [10.0, 20.0]}
        values = new_values

        # Read: alive and ready; then, once the process is gone, the resource is gone
        read = plugin.stub.Read(
            proto.ReadRequest(urn=urn(TOKEN), id=created.id, properties=updated.properties)
        )
        assert read.id == created.id
        assert state(read.properties)["healthy"] is True
        assert "primaryKey" in read.inputs.fields
        assert "pid" not in read.inputs.fields
    finally:
        plugin.stub.Delete(
            proto.DeleteRequest(
                urn=urn(TOKEN), id=created.id, properties=encode(values), timeout=30
            )
        )
    assert not is_alive(_record(values))
    assert not port_in_use("127.0.0.1", port)
    gone = plugin.stub.Read(
        proto.ReadRequest(urn=urn(TOKEN), id=created.id, properties=encode(values))
    )
    assert gone.id == ""


def _health_gate_round(plugin: Plugin, service: dict[str, Any]) -> None:
    """A HealthGate passes against the service, and fails with its error and log when run raises."""
    good = {
        "scoring_uri": service["scoring_uri"],
        "key": "pk-123",
        "sample_request": json.dumps({"data": [3]}),
        "expected_response": json.dumps({"result": [6.0]}),
        "log_file": service["log_path"],
        "timeout_seconds": 20,
    }
    passed = plugin.stub.Create(
        proto.CreateRequest(urn=urn(GATE), properties=plugin.checked(GATE, good), timeout=60)
    )
    assert state(passed.properties)["healthy"] is True

    bad = {**good, "sample_request": json.dumps({"data": "boom"})}
    with pytest.raises(grpc.RpcError) as raised:
        plugin.stub.Create(
            proto.CreateRequest(urn=urn(GATE), properties=plugin.checked(GATE, bad), timeout=60)
        )
    message = details(raised.value)
    assert "sample request got HTTP 500, expected 200" in message
    assert "service log (tail):" in message
    assert "boom from run()" in message  # the traceback from the service's own log
    assert "pk-123" not in message

    wrong_key = {**good, "key": "not-the-key"}
    with pytest.raises(grpc.RpcError) as unauthorized:
        plugin.stub.Create(
            proto.CreateRequest(
                urn=urn(GATE), properties=plugin.checked(GATE, wrong_key), timeout=60
            )
        )
    assert "HTTP 401" in details(unauthorized.value)
    assert "not-the-key" not in details(unauthorized.value)


def test_create_fails_fast_with_the_log_when_init_raises(
    plugin: Plugin, service_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    source, model = service_dirs
    (source / "score.py").write_text(
        "def init():\n"
        "    raise RuntimeError('model file is corrupt')\n"
        "\n"
        "def run(raw):\n"
        "    return 1\n"
    )
    port = free_port()
    checked = plugin.checked(TOKEN, _inputs(source, model, port, tmp_path))
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        plugin.stub.Create(proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=60))
    message = details(raised.value)
    assert time.monotonic() - started < 30  # well under start_timeout_seconds=60
    assert "mlws serve did not start" in message
    assert "the server process exited" in message
    assert "model file is corrupt" in message
    assert not port_in_use("127.0.0.1", port)


def test_create_refuses_a_busy_port(
    plugin: Plugin, service_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    import socket

    source, model = service_dirs
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        checked = plugin.checked(TOKEN, _inputs(source, model, port, tmp_path))
        with pytest.raises(grpc.RpcError) as raised:
            plugin.stub.Create(proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=60))
    assert f"127.0.0.1:{port} is already in use" in details(raised.value)


def test_diff_restarts_a_process_that_died(
    plugin: Plugin, service_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    source, model = service_dirs
    port = free_port()
    inputs = _inputs(source, model, port, tmp_path)
    checked = plugin.checked(TOKEN, inputs)
    created = plugin.stub.Create(
        proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=60)
    )
    values = state(created.properties)
    os.killpg(values["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_alive(_record(values)) and time.monotonic() < deadline:
        time.sleep(0.05)
    diff = plugin.stub.Diff(
        proto.DiffRequest(urn=urn(TOKEN), id=created.id, olds=created.properties, news=checked)
    )
    assert diff.changes == proto.DiffResponse.DIFF_SOME
    updated = plugin.stub.Update(
        proto.UpdateRequest(
            urn=urn(TOKEN), id=created.id, olds=created.properties, news=checked, timeout=60
        )
    )
    revived = state(updated.properties)
    try:
        assert _score(revived["url"], [1]).json() == {"result": [2.0]}
    finally:
        plugin.stub.Delete(
            proto.DeleteRequest(urn=urn(TOKEN), id=created.id, properties=updated.properties)
        )
    assert not port_in_use("127.0.0.1", port)


def test_health_gate_mints_tokens_the_runtime_accepts(
    plugin: Plugin, service_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    source, model = service_dirs
    port = free_port()
    inputs = {
        **_inputs(source, model, port, tmp_path),
        "auth_mode": "token",
        "primary_key": None,
        "token_secret": "signing-secret-0123456789abcdef",
        "environment": {"MLWS_TOKEN_AUDIENCE": "mlws-test"},
    }
    checked = plugin.checked(TOKEN, {k: v for k, v in inputs.items() if v is not None})
    created = plugin.stub.Create(
        proto.CreateRequest(urn=urn(TOKEN), properties=checked, timeout=60)
    )
    values = state(created.properties)
    try:
        gate = {
            "scoring_uri": values["scoring_uri"],
            "token_secret": "signing-secret-0123456789abcdef",
            "token_audience": "mlws-test",
            "sample_request": json.dumps({"data": [1]}),
            "expected_response": json.dumps({"result": [2.0]}),
            "timeout_seconds": 20,
        }
        passed = plugin.stub.Create(
            proto.CreateRequest(urn=urn(GATE), properties=plugin.checked(GATE, gate), timeout=60)
        )
        assert state(passed.properties)["healthy"] is True
        wrong_audience = {**gate, "token_audience": "someone-else"}
        with pytest.raises(grpc.RpcError) as raised:
            plugin.stub.Create(
                proto.CreateRequest(
                    urn=urn(GATE), properties=plugin.checked(GATE, wrong_audience), timeout=60
                )
            )
        assert "HTTP 401" in details(raised.value)
    finally:
        plugin.stub.Delete(
            proto.DeleteRequest(urn=urn(TOKEN), id=created.id, properties=created.properties)
        )
