"""Start azmlinfsrv bound to 127.0.0.1 (it hard-codes 0.0.0.0), otherwise exactly as its CLI does.

Usage: ``python azmlinfsrv_local.py --entry_script ... --model_dir ... --port ...`` in its own venv
(imported by name so the repo's type check does not need azmlinfsrv installed).
"""

from __future__ import annotations

import importlib

if __name__ == "__main__":
    constants = importlib.import_module("azureml_inference_server_http.constants")
    setattr(constants, "DEFAULT_HOST", "127.0.0.1")  # noqa: B010 - a module set by name
    # amlserver copies the constants at import, so it is imported after the patch.
    importlib.import_module("azureml_inference_server_http.amlserver").run()
