"""Checks that a secret value only ever travels inside inputs Pulumi sends as secrets."""

from typing import Any

from mlws.mocks import Recording


def paths_holding(value: Any, needle: str, path: str = "") -> list[str]:
    """Dotted paths of the strings in ``value`` that contain ``needle``."""
    if isinstance(value, dict):
        return [
            p for k, v in value.items() for p in paths_holding(v, needle, f"{path}.{k}".strip("."))
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in paths_holding(v, needle, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and needle in value else []


def assert_only_secret(recording: Recording, needle: str) -> int:
    """Every input holding ``needle`` lies under a path sent as a secret; returns the count."""
    count = 0
    for resource in recording:
        for path in paths_holding(resource.inputs, needle):
            count += 1
            assert any(
                s == "" or path == s or path.startswith((s + ".", s + "["))
                for s in resource.secret_paths
            ), f"{resource.name}: {path} holds a secret in the clear"
    assert needle not in repr(recording.to_json())
    return count
