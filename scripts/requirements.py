"""Print what a development environment of mlws installs besides mlws itself, one per line.

``python scripts/requirements.py [EXTRA ...]`` (default extra: ``dev``) reads pyproject.toml: the
build requirements, ``[project].dependencies`` and each extra, expanding ``mlws[...]``
self-references, sorted and without duplicates. ``scripts/venv`` installs this list into a
dependency venv shared by every clone and keys that venv by a hash of it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
SELF_REFERENCE = re.compile(r"^mlws\[(?P<extras>[^\]]+)\]\s*$")


def requirements(pyproject: dict[str, object], extras: list[str]) -> list[str]:
    """Build requirements, core dependencies and the extras' requirements (self-refs expanded)."""
    project = pyproject["project"]
    build = pyproject["build-system"]
    assert isinstance(project, dict)
    assert isinstance(build, dict)
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    found: set[str] = set(build.get("requires", [])) | set(project.get("dependencies", []))
    pending, seen = list(extras), set[str]()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise SystemExit(f"error: pyproject.toml has no extra {extra!r}")
        for requirement in optional[extra]:
            match = SELF_REFERENCE.match(requirement)
            if match:
                pending += [name.strip() for name in match["extras"].split(",")]
            else:
                found.add(requirement)
    return sorted(found)


def main(argv: list[str]) -> None:
    """Print the requirement list for the extras in ``argv`` (default ``dev``)."""
    with PYPROJECT.open("rb") as handle:
        pyproject = tomllib.load(handle)
    print("\n".join(requirements(pyproject, argv or ["dev"])))


if __name__ == "__main__":
    main(sys.argv[1:])
