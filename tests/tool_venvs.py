"""Virtual environments for tools whose pins must not touch mlws's own (checkov, azmlinfsrv).

Each lives outside the clone, in ``~/.cache/mlws/tool-venvs/<name>-<hash>`` (``MLWS_CACHE`` moves
``~/.cache/mlws``), keyed by a hash of the Python version and its requirement list, so a fresh
clone reuses it and a changed pin makes a new one. A file lock makes concurrent test workers (and
clones) wait for a single install; a venv whose install did not finish is made again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


class ToolVenvError(RuntimeError):
    """The venv could not be made or its requirements not installed (the message says why)."""


def cache_root() -> Path:
    """Where tool venvs are kept."""
    base = Path(os.environ.get("MLWS_CACHE", Path.home() / ".cache" / "mlws"))
    return base / "tool-venvs"


def tool_venv(name: str, requirements: list[str]) -> Path:
    """The folder of a venv holding exactly ``requirements``: (made and) installed once per key."""
    key = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:16]
    folder = cache_root() / f"{name}-{key}"
    complete = folder / ".complete"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete.exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            raise ToolVenvError(f"could not create {folder}: {made.stderr.strip()[-800:]}")
        installed = subprocess.run(
            [
                str(folder / "bin" / "python"),
                *("-m", "pip", "install", "-q", "--disable-pip-version-check"),
                *requirements,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=1200,
        )
        if installed.returncode != 0:
            raise ToolVenvError(
                f"pip could not install {' '.join(requirements)}: {installed.stderr.strip()[-800:]}"
            )
        complete.write_text("\n".join(requirements))
    return folder
