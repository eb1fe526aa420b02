#!/usr/bin/env python3
"""A Pulumi language host for Node.js (TypeScript and JavaScript) programs, where upstream's cannot
be had.

Upstream's host is the Go module
``github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3``, which, like the Python
host's, has no tags and no pseudo-version the Go module proxy here serves (403), so
``scripts/pulumi-engine`` installs this one as ``pulumi-language-nodejs``. It speaks the same
``LanguageRuntime`` gRPC protocol and runs programs as upstream's does: with the machine's
``node`` running the ``@pulumi/pulumi/cmd/run`` entry of the program's own ``@pulumi/pulumi``
(from npm), with the same arguments, ``PULUMI_CONFIG`` / ``PULUMI_CONFIG_SECRET_KEYS`` /
``PULUMI_NODEJS_TYPESCRIPT`` environment and exit-code meanings (32: the error was already
shown). ``GeneratePackage`` (``pulumi package gen-sdk --language nodejs``) runs
``mlws-nodejs-codegen``, a small Go program built beside it from upstream's Node.js code generator
(``pkg/v3/codegen/nodejs``, which the proxy does serve).

What it leaves out: the resource monitor proxy and the pipes upstream keeps for synchronous invokes
(the program talks to the engine's monitor directly; ``invokeSync`` is not supported), dependency
discovery (the engine loads each provider when a resource first needs it), plugins and policy packs
written in Node.js, ``pulumi convert``/``import`` code generation, ``Pack``/``Link``, debugger
attachment, and package managers other than npm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
from mlws_language_host import LanguageHostBase, options_of, run_response, serve
from pulumi.runtime.proto import language_pb2

RUN_MODULE = "@pulumi/pulumi/cmd/run"
"""The program runner inside the ``@pulumi/pulumi`` npm package."""

CODEGEN = Path(__file__).with_name("mlws-nodejs-codegen")
"""The SDK generator ``scripts/pulumi-engine`` builds from upstream's Go code generator."""


def locate_run_module(program_dir: str, node: str) -> str:
    """Where the program's ``@pulumi/pulumi`` keeps its runner, as Node.js resolves it from the
    program's folder; a one-line error when the SDK is not installed there."""
    found = subprocess.run(  # noqa: S603
        [node, "-e", f"console.log(require.resolve({json.dumps(RUN_MODULE)}))"],
        cwd=program_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0 or not found.stdout.strip():
        raise RuntimeError(
            f"could not find {RUN_MODULE} from {program_dir}: the Pulumi SDK for Node.js is not "
            "installed there (run `npm install`)"
        )
    return found.stdout.strip()


def program_arguments(request: Any, run_path: str, engine_address: str) -> list[str]:
    """``node``'s arguments for a RunRequest, in upstream's order."""
    pairs = [
        ("monitor", request.monitor_address),
        ("engine", engine_address),
        ("organization", request.organization),
        ("project", request.project),
        ("root-directory", request.info.root_directory),
        ("stack", request.stack),
        ("pwd", request.info.program_directory),
    ]
    args = [run_path, *(item for key, value in pairs if value for item in (f"--{key}", value))]
    if request.dryRun:
        args.append("--dry-run")
    args += ["--parallel", str(request.parallel)]
    return [*args, request.info.entry_point or ".", *request.args]


def node_config(config: Mapping[str, str]) -> dict[str, str]:
    """The configuration as ``@pulumi/pulumi`` reads it: keys ``namespace:config:name``, the
    form upstream's host still sends for older SDKs (newer ones accept both)."""
    shaped = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if name.startswith("config:"):
            name = name.removeprefix("config:")
        shaped[f"{namespace}:config:{name}"] = value
    return shaped


def program_environment(request: Any, options: Mapping[str, Any]) -> dict[str, str]:
    """The environment a program runs in: ours, its configuration, and the TypeScript switch."""
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(node_config(request.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
    if options.get("typescript", True):
        env["PULUMI_NODEJS_TYPESCRIPT"] = "true"
    if options.get("tsconfig"):
        env["PULUMI_NODEJS_TSCONFIG_PATH"] = str(options["tsconfig"])
    return env


class NodeLanguageHost(LanguageHostBase):
    """The ``LanguageRuntime`` service for Node.js programs."""

    def About(self, request: Any, context: Any) -> Any:
        node = shutil.which("node")
        if node is None:
            return language_pb2.AboutResponse()
        version = subprocess.run(  # noqa: S603
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return language_pb2.AboutResponse(executable=node, version=version.removeprefix("v"))

    def Run(self, request: Any, context: Any) -> Any:
        node = shutil.which("node")
        if node is None:
            return language_pb2.RunResponse(error="could not find node on the $PATH")
        options = options_of(request.info)
        program_dir = request.info.program_directory or request.pwd
        try:
            run_path = locate_run_module(program_dir, node)
        except RuntimeError as error:
            return language_pb2.RunResponse(error=str(error))
        node_args = str(options.get("nodeargs", "")).split()
        args = [node, *node_args, *program_arguments(request, run_path, self.engine_address)]
        # The program's output goes where ours goes: the engine shows it as the program's.
        child = subprocess.Popen(  # noqa: S603
            args, cwd=request.pwd or program_dir, env=program_environment(request, options)
        )
        return run_response(self.children.wait(child), "Program exited with non-zero exit code")

    def InstallDependencies(self, request: Any, context: Any) -> Iterator[Any]:
        root = request.info.program_directory or request.directory
        npm = shutil.which("npm")
        if not Path(root, "package.json").exists():
            return
        if npm is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "could not find npm on the $PATH")
        assert npm is not None
        child = subprocess.Popen(  # noqa: S603
            [npm, "install"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert child.stdout is not None
        for line in child.stdout:
            yield language_pb2.InstallDependenciesResponse(stdout=line)
        if self.children.wait(child) != 0:
            context.abort(grpc.StatusCode.UNKNOWN, "npm install failed")

    def GeneratePackage(self, request: Any, context: Any) -> Any:
        if not CODEGEN.exists():
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{CODEGEN.name} is missing beside this host: run scripts/pulumi-engine",
            )
        done = subprocess.run(  # noqa: S603
            [str(CODEGEN)], input=request.SerializeToString(), capture_output=True, check=False
        )
        if done.returncode != 0:
            context.abort(grpc.StatusCode.UNKNOWN, done.stderr.decode(errors="replace").strip())
        return language_pb2.GeneratePackageResponse.FromString(done.stdout)


if __name__ == "__main__":
    sys.exit(serve("pulumi-language-nodejs", NodeLanguageHost))
