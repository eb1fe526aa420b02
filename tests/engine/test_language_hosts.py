"""The pure parts of mlws's language hosts (scripts/engine), no engine: what they pass on."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from pulumi.runtime.proto import analyzer_pb2, language_pb2

# The hosts are scripts that import their shared module from their own folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "engine"))
nodejs_host = importlib.import_module("pulumi_language_nodejs")
python_host = importlib.import_module("pulumi_language_python")


def test_policy_packs_get_the_stack_the_engine_configured() -> None:
    stack = analyzer_pb2.AnalyzerStackConfigureRequest(
        stack="prod", project="p", organization="", dry_run=True, config={"p:authMode": "none"}
    )
    env = python_host.policy_pack_environment(stack)
    assert env == {
        "PULUMI_PROJECT": "p",
        "PULUMI_STACK": "prod",
        "PULUMI_DRY_RUN": "true",
        "PULUMI_CONFIG": json.dumps({"p:authMode": "none"}),
    }
    assert python_host.policy_pack_environment(None) == {}


def test_node_programs_get_configuration_in_the_form_their_sdk_reads() -> None:
    shaped = nodejs_host.node_config({"proj:port": "80", "aws:config:region": "x"})
    assert shaped == {"proj:config:port": "80", "aws:config:region": "x"}


def test_node_program_arguments_follow_upstreams_order() -> None:
    request = language_pb2.RunRequest(
        monitor_address="127.0.0.1:1",
        project="p",
        stack="dev",
        dryRun=True,
        parallel=4,
        info=language_pb2.ProgramInfo(root_directory="/r", program_directory="/r", entry_point="."),
    )
    args = nodejs_host.program_arguments(request, "/n/run", "127.0.0.1:2")
    assert args == [
        "/n/run",
        "--monitor",
        "127.0.0.1:1",
        "--engine",
        "127.0.0.1:2",
        "--project",
        "p",
        "--root-directory",
        "/r",
        "--stack",
        "dev",
        "--pwd",
        "/r",
        "--dry-run",
        "--parallel",
        "4",
        ".",
    ]


def test_a_programs_exit_code_is_success_bail_or_an_error_naming_it() -> None:
    base = importlib.import_module("mlws_language_host")
    assert base.run_response(0, "program exited") == language_pb2.RunResponse()
    assert base.run_response(32, "program exited") == language_pb2.RunResponse(bail=True)
    assert base.run_response(3, "program exited").error == "program exited: 3"


def test_both_hosts_answer_the_shared_calls_alike() -> None:
    base = importlib.import_module("mlws_language_host")
    for host in (nodejs_host.NodeLanguageHost("127.0.0.1:1"), python_host.LanguageHost("x:1")):
        handshake = language_pb2.LanguageHandshakeRequest(engine_address="127.0.0.1:2")
        host.Handshake(handshake, None)
        assert host.engine_address == "127.0.0.1:2"
        assert host.GetPluginInfo(None, None).version == base.VERSION
        assert host.GetRequiredPackages(None, None) == language_pb2.GetRequiredPackagesResponse()
