"""Toy entry scripts and settings for the runtime tests (imported by the tests and conftest)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from mlws.runtime.settings import RuntimeSettings

#: Toy entry scripts by name. Each is an Azure ML style script unless its name says otherwise.
SCRIPTS: dict[str, str] = {
    "echo": """
        import json, os, time
        model_dir = None
        def init():
            global model_dir
            model_dir = os.environ.get("AZUREML_MODEL_DIR")
        def run(raw_data):
            data = json.loads(raw_data)
            if isinstance(data, dict):
                if data.get("started_file"):
                    open(data["started_file"], "w").close()
                if data.get("sleep"):
                    time.sleep(data["sleep"])
                if data.get("fail"):
                    raise ValueError("the script failed on purpose")
            return {"echo": data, "model_dir": model_dir}
    """,
    "raw": """
        def init():
            pass
        def run(raw_data):
            return {"raw": raw_data}
    """,
    "string": """
        import json
        def init():
            pass
        def run(raw_data):
            return json.dumps({"as": "string"})
    """,
    "returns_predict": """
        import json
        def init():
            def predict(data):
                return {"sum": sum(json.loads(data)["data"])}
            return predict
    """,
    "headers": """
        def init():
            pass
        def run(data, request_headers):
            return {"headers": request_headers}
    """,
    "rawhttp": """
        from azureml.contrib.services.aml_request import AMLRequest, rawhttp
        from azureml.contrib.services.aml_response import AMLResponse
        def init():
            pass
        @rawhttp
        def run(request):
            if request.method == "OPTIONS":
                return AMLResponse("", 204, {"Access-Control-Allow-Origin": "*"})
            if request.method == "GET":
                return {"args": request.args.to_dict(flat=False), "full_path": request.full_path,
                        "authorization": request.headers.get("Authorization"),
                        "remote_addr": request.remote_addr, "host": request.host}
            body = request.get_data()
            return AMLResponse(body[::-1], 200, {"Content-Type": request.content_type or "x/y"})
        def run_batch(raw_list):
            raise AssertionError("a @rawhttp script is never batched")
    """,
    "returns_response": """
        from azureml_inference_server_http.api.aml_response import AMLResponse
        def init():
            pass
        def run(raw_data):
            return AMLResponse("accepted", 202, {"Content-Type": "text/plain"})
    """,
    "numpy": """
        import numpy as np
        def init():
            pass
        def run(raw_data):
            return {"array": np.arange(3), "scalar": np.float64(1.5)}
    """,
    "unserialisable": """
        def init():
            pass
        def run(raw_data):
            return {1, 2}
    """,
    "decorated": """
        from inference_schema.schema_decorators import input_schema, output_schema
        from inference_schema.parameter_types.standard_py_parameter_type import (
            StandardPythonParameterType,
        )
        def init():
            pass
        @input_schema("data", StandardPythonParameterType([1.0, 2.0]))
        @input_schema("scale", StandardPythonParameterType(1.0), optional=True)
        @output_schema(StandardPythonParameterType({"total": 3.0}))
        def run(data, scale=1.0):
            return {"total": sum(data) * scale}
    """,
    "batch": """
        import json
        def init():
            pass
        def run(raw_data):
            return {"single": json.loads(raw_data)}
        def run_batch(raw_list):
            out = []
            for raw in raw_list:
                data = json.loads(raw)
                if data == "bad":
                    out.append(ValueError("this one is bad"))
                elif data == "set":
                    out.append({1})
                elif data == "none":
                    out.append(None)
                else:
                    out.append({"batched": data, "size": len(raw_list)})
            if "short" in raw_list[0]:
                out.pop()
            return out
    """,
    "multi_model": """
        import os
        paths = None
        def init():
            global paths
            root = os.environ["AZUREML_MODEL_DIR"]
            paths = {}
            for name in sorted(os.listdir(root)):
                for version in sorted(os.listdir(os.path.join(root, name))):
                    with open(os.path.join(root, name, version, "weights.txt")) as f:
                        paths[f"{name}/{version}"] = f.read()
        def run(raw_data):
            return paths
    """,
    "init_fails": """
        def init():
            raise RuntimeError("cannot find the model file")
        def run(raw_data):
            return 1
    """,
    "import_fails": """
        import json
        raise ImportError("a dependency is missing")
    """,
    "no_run": """
        def init():
            return None
    """,
    "no_init": """
        def run(raw_data):
            return 1
    """,
    "bad_signature": """
        def init():
            pass
        def run(*args):
            return 1
    """,
    "slow_init": """
        import time
        def init():
            time.sleep(float(__import__("os").environ.get("SLOW_INIT_SECONDS", "1.5")))
        def run(raw_data):
            return "ok"
    """,
    "dies": """
        import ctypes, json, os, signal, time
        def init():
            pass
        def run(raw_data):
            data = json.loads(raw_data)
            how = data.get("die")
            if how == "exit":
                os._exit(7)
            if how == "segfault":
                ctypes.string_at(0)
            if how == "oom-kill":  # what the kernel's OOM killer sends
                os.kill(os.getpid(), signal.SIGKILL)
            if data.get("hang"):
                time.sleep(data["hang"])
            return {"pid": os.getpid()}
    """,
    "init_segfaults": """
        import ctypes
        def init():
            ctypes.string_at(0)
        def run(raw_data):
            return 1
    """,
    "peek": """
        import os, subprocess, sys
        def init():
            pass
        def run(raw_data):
            child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.environ))"],
                                   capture_output=True, text=True).stdout
            return {"pid": os.getpid(), "size": len(raw_data),
                    "env": sorted(k for k in os.environ if k.startswith("MLWS_")), "child": child}
    """,
    "helper_import": """
        import helper_module
        def init():
            pass
        def run(raw_data):
            return helper_module.VALUE
    """,
}


def write_script(directory: Path, name: str, filename: str = "score.py") -> Path:
    """Write toy script ``name`` as ``directory/filename``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(textwrap.dedent(SCRIPTS[name]).lstrip())
    return path


def make_settings(source: Path, **overrides: Any) -> RuntimeSettings:
    """Settings serving ``source/score.py``; keyword arguments override fields."""
    values: dict[str, Any] = {"source_directory": source, "entry_script": Path("score.py")}
    values.update(overrides)
    return RuntimeSettings(**values)
