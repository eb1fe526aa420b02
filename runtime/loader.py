"""Pick the :class:`EntryScript` implementation for an entry script from its file suffix."""

from __future__ import annotations

import importlib

from mlws.runtime.entry_script import EntryScript, EntryScriptError
from mlws.runtime.settings import RuntimeSettings

#: Suffix (lower case) -> (module, class). Modules are imported only when a script needs them.
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    ".py": ("mlws.runtime.python_script", "PythonEntryScript"),
    ".r": ("mlws.runtime.r_script", "REntryScript"),
}


def load_entry_script(settings: RuntimeSettings) -> EntryScript:
    """Return the (not yet initialised) entry script that ``settings`` names.

    Raises :class:`EntryScriptError` for a missing file or a suffix mlws cannot serve.
    """
    path = settings.entry_script_path
    suffix = path.suffix.lower()
    if suffix not in IMPLEMENTATIONS:
        known = ", ".join(sorted({".py", ".R"}))
        raise EntryScriptError(
            f"cannot serve entry script {path}: unknown suffix {path.suffix or '(none)'!r}; "
            f"mlws serves {known} scripts"
        )
    if not path.is_file():
        raise EntryScriptError(f"entry script {path} does not exist")
    module_name, class_name = IMPLEMENTATIONS[suffix]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EntryScriptError(f"cannot load the {suffix} entry-script support: {exc}") from exc
    cls: type[EntryScript] = getattr(module, class_name)
    return cls(settings)
