#!/usr/bin/env python3
"""A Pulumi language host for Python programs, for engines built where upstream's cannot be had.

Upstream's host is the Go module
``github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3``, which has no tags of its
own: the Go module proxy these machines reach serves none of its pseudo-versions (403 "This
module version is not available"), so ``scripts/pulumi-engine`` installs this one as
``pulumi-language-python`` instead. It speaks the same ``LanguageRuntime`` gRPC protocol
and runs programs exactly as upstream's host does: through the ``pulumi-language-python-exec`` shim
that the ``sdk/v3`` module ships, with the same arguments, environment and exit-code meanings.
Plugins (``PulumiPlugin.yaml`` with ``runtime: python``) and policy packs run through ``RunPlugin``;
a policy pack is started behind a small analyzer proxy (:class:`PolicyPackProxy`), as upstream's
host does, so that it sees the stack it analyses in its environment.

What it leaves out, since nothing here uses it: dependency discovery (``GetRequiredPackages`` says
none; the engine then loads each provider when a resource first asks for it), code generation,
debugger attachment, type checking, and the uv and poetry toolchains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from mlws_language_host import LanguageHostBase, options_of, run_response, serve
from pulumi.runtime.proto import analyzer_pb2, language_pb2

EXEC_SHIM = Path(__file__).with_name("pulumi-language-python-exec")
"""Upstream's shim that configures the Python SDK and runs the program (in the sdk/v3 module)."""


def python_command(root: str, options: Mapping[str, Any]) -> list[str]:
    """The Python to run a program or plugin with: the ``virtualenv`` option's, else PATH's."""
    virtualenv = options.get("virtualenv")
    if virtualenv:
        venv = Path(root, str(virtualenv))
        python = venv / "bin" / "python"
        if not python.exists():
            raise RuntimeError(
                f"the 'virtualenv' option in Pulumi.yaml is set to {str(virtualenv)!r}, "
                f"but {python} does not exist: run `pulumi install`"
            )
        return [str(python)]
    return [os.environ.get("PULUMI_PYTHON_CMD", "python3")]


def program_arguments(request: Any, engine_address: str) -> list[str]:
    """The shim's command line for a RunRequest, in upstream's order."""
    pairs = [
        ("monitor", request.monitor_address),
        ("engine", engine_address),
        ("project", request.project),
        ("root_directory", request.info.root_directory),
        ("stack", request.stack),
        ("pwd", request.pwd),
        ("dry_run", "true" if request.dryRun else "false"),
        ("parallel", str(request.parallel)),
        ("organization", request.organization),
    ]
    args = [item for key, value in pairs if value for item in (f"--{key}", value)]
    return [*args, request.info.entry_point or ".", *request.args]


def program_environment(request: Any) -> dict[str, str]:
    """The environment a program runs in: ours plus its configuration, as upstream passes it."""
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
    return env


def policy_pack_environment(stack: Any) -> dict[str, str]:
    """What a Python policy pack reads from its environment about the stack under analysis
    (``pulumi_policy`` configures the SDK from these): the engine's ``ConfigureStack`` request."""
    if stack is None:
        return {}
    env = {
        "PULUMI_ORGANIZATION": stack.organization,
        "PULUMI_PROJECT": stack.project,
        "PULUMI_STACK": stack.stack,
        "PULUMI_DRY_RUN": "true" if stack.dry_run else "false",
        "PULUMI_CONFIG": json.dumps(dict(stack.config)) if stack.config else "",
    }
    return {key: value for key, value in env.items() if value}


ANALYZER_SERVICE = "pulumirpc.Analyzer"


class PolicyPackProxy(grpc.GenericRpcHandler):
    """The engine's ``Analyzer`` endpoint for a Python policy pack, in front of the pack itself.

    The engine sends a policy pack the stack it analyses only over gRPC (``ConfigureStack``),
    after the pack is running; ``pulumi_policy`` reads it from environment variables when it
    starts. So the host serves this proxy first, answers ``Handshake`` and ``ConfigureStack``
    itself, starts the pack with that stack in its environment (:meth:`wait_for_stack`), then
    passes every other call through unchanged once the pack is up (:meth:`attach`).
    """

    def __init__(self) -> None:
        self.stack: Any = None
        self._stack_known = threading.Event()
        self._attached = threading.Event()
        self._channel: grpc.Channel | None = None
        self._failure = ""

    def service(self, handler_call_details: Any) -> Any:
        method = str(handler_call_details.method)
        service, _, name = method.strip("/").partition("/")
        if service != ANALYZER_SERVICE:
            return None
        if name == "Handshake":
            return grpc.unary_unary_rpc_method_handler(
                lambda request, context: analyzer_pb2.AnalyzerHandshakeResponse(),
                request_deserializer=analyzer_pb2.AnalyzerHandshakeRequest.FromString,
                response_serializer=analyzer_pb2.AnalyzerHandshakeResponse.SerializeToString,
            )
        if name == "ConfigureStack":
            return grpc.unary_unary_rpc_method_handler(
                self._configure_stack,
                request_deserializer=analyzer_pb2.AnalyzerStackConfigureRequest.FromString,
                response_serializer=analyzer_pb2.AnalyzerStackConfigureResponse.SerializeToString,
            )
        # Anything else goes to the pack as it came (bytes in, bytes out).
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: self._forward(method, request, context)
        )

    def _configure_stack(self, request: Any, context: Any) -> Any:
        if not self._stack_known.is_set():
            self.stack = request
            self._stack_known.set()
        return analyzer_pb2.AnalyzerStackConfigureResponse()

    def wait_for_stack(self, context: Any) -> Any:
        """The engine's ``ConfigureStack`` request, or None when it asks something else first
        (``pulumi policy publish`` does) or goes away."""
        while not self._stack_known.wait(0.2):
            if not context.is_active():
                return None
        return self.stack

    def attach(self, port: int) -> None:
        """Connect to the pack serving on ``port`` and hand it the stack, as the engine would."""
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        if self.stack is not None:
            configure = channel.unary_unary(
                f"/{ANALYZER_SERVICE}/ConfigureStack",
                request_serializer=analyzer_pb2.AnalyzerStackConfigureRequest.SerializeToString,
                response_deserializer=analyzer_pb2.AnalyzerStackConfigureResponse.FromString,
            )
            try:
                configure(self.stack, wait_for_ready=True, timeout=60)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNIMPLEMENTED:  # older packs lack it
                    self.fail(f"the policy pack refused its stack configuration: {error.details()}")
                    channel.close()
                    return
        self._channel = channel
        self._attached.set()

    def fail(self, reason: str) -> None:
        """The pack did not start or has ended: every waiting and later call fails with the
        first ``reason`` given."""
        self._failure = self._failure or reason
        self._attached.set()

    def close(self) -> None:
        """Drop the connection to the pack."""
        if self._channel is not None:
            self._channel.close()

    def _forward(self, method: str, request: bytes, context: Any) -> bytes:
        self._stack_known.set()  # asked before any ConfigureStack: start the pack without one
        self._attached.wait()
        if self._channel is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, self._failure or "policy pack not started")
        assert self._channel is not None
        call: Any = self._channel.unary_unary(method)
        try:
            answer: bytes = call(request, metadata=context.invocation_metadata())
        except grpc.RpcError as error:
            context.abort(error.code(), error.details())
        return answer


class LanguageHost(LanguageHostBase):
    """The ``LanguageRuntime`` service for Python programs, plugins and policy packs."""

    def About(self, request: Any, context: Any) -> Any:
        return language_pb2.AboutResponse(executable=sys.executable, version=sys.version.split()[0])

    def Run(self, request: Any, context: Any) -> Any:
        root = request.info.root_directory or request.pwd
        try:
            command = python_command(root, options_of(request.info))
        except RuntimeError as error:
            return language_pb2.RunResponse(error=str(error))
        args = [*command, "-u", str(EXEC_SHIM), *program_arguments(request, self.engine_address)]
        # The program's output goes where ours goes: the engine shows it as the program's.
        child = subprocess.Popen(args, env=program_environment(request))  # noqa: S603
        return run_response(self.children.wait(child), "program exited with non-zero exit code")

    def RunPlugin(self, request: Any, context: Any) -> Iterator[Any]:
        program_dir = request.info.program_directory
        options = options_of(request.info)
        try:
            command = python_command(program_dir, options)
        except RuntimeError as error:
            yield language_pb2.RunPluginResponse(stderr=f"{error}\n".encode())
            yield language_pb2.RunPluginResponse(exitcode=1)
            return
        env = dict(os.environ)
        extra = dict(item.split("=", 1) for item in request.env if "=" in item)
        if request.kind == "analyzer":
            # Policy packs: `python -u -m pulumi.policy ARGS DIR`, run from the pack's folder.
            args = [*command, "-u", "-m", "pulumi.policy", *request.args, program_dir]
            yield from self._run_policy_pack(args, program_dir, env, extra, context)
            return
        args = [*command, "-u", program_dir, *request.args]
        child = subprocess.Popen(  # noqa: S603
            args,
            cwd=request.pwd or program_dir,
            env={**env, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        yield from self.children.stream(child, context)

    def _run_policy_pack(
        self,
        args: list[str],
        program_dir: str,
        env: dict[str, str],
        extra: dict[str, str],
        context: Any,
    ) -> Iterator[Any]:
        """Serve :class:`PolicyPackProxy` as the pack, start the pack once the engine has said
        which stack it analyses, and relay its output (the port line it prints is the proxy's)."""
        proxy = PolicyPackProxy()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        server.add_generic_rpc_handlers((proxy,))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield language_pb2.RunPluginResponse(stdout=f"{port}\n".encode())
            stack = proxy.wait_for_stack(context)
            if not context.is_active():
                return
            child = subprocess.Popen(  # noqa: S603
                args,
                cwd=program_dir,
                env={**env, **policy_pack_environment(stack), **extra},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert child.stdout is not None
            first = child.stdout.readline()
            try:
                proxy.attach(int(first))
            except ValueError:
                # It ended (or printed something else): say why in the engine's error.
                if first:
                    child.kill()
                out, err = child.communicate()
                shown = (first + out + err).decode(errors="replace").strip()
                proxy.fail(
                    "the policy pack did not start: " + "\n".join(shown.splitlines()[-20:])
                    if shown
                    else f"the policy pack did not start (exit code {child.returncode})"
                )
                yield language_pb2.RunPluginResponse(stderr=first + out + err)
                yield language_pb2.RunPluginResponse(exitcode=child.returncode)
                return
            yield from self.children.stream(child, context)
        finally:
            proxy.fail("the policy pack has exited")
            proxy.close()
            server.stop(grace=1)

    def InstallDependencies(self, request: Any, context: Any) -> Iterator[Any]:
        root = request.info.root_directory or request.directory
        options = options_of(request.info)
        virtualenv = options.get("virtualenv")
        requirements = Path(root, "requirements.txt")
        if not virtualenv:
            return
        venv = Path(root, str(virtualenv))
        steps: list[list[str]] = []
        if not (venv / "bin" / "python").exists():
            steps.append([sys.executable, "-m", "venv", str(venv)])
        if requirements.exists():
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-r", str(requirements)]
            steps.append(pip)
        for step in steps:
            child = subprocess.Popen(  # noqa: S603
                step, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            assert child.stdout is not None
            for line in child.stdout:
                yield language_pb2.InstallDependenciesResponse(stdout=line)
            if self.children.wait(child) != 0:
                context.abort(grpc.StatusCode.UNKNOWN, f"{' '.join(step)} failed")


if __name__ == "__main__":
    sys.exit(serve("pulumi-language-python", LanguageHost))
