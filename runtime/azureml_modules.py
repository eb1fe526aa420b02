"""The Azure ML module names entry scripts import, served by mlws where nothing real is installed.

``from azureml.contrib.services.aml_request import AMLRequest, rawhttp`` and
``from azureml.contrib.services.aml_response import AMLResponse`` (and the same names under
``azureml_inference_server_http.api``) must work in a scoring image that has neither
azureml-contrib-services nor azmlinfsrv. :func:`install` appends a finder to the *end* of
``sys.meta_path``: Python's own finders look first, so a real installed package always wins and
nothing is shadowed; only names no other finder knows reach this one. Nothing is imported until a
script imports one of these names (werkzeug stays out of scripts that do not use them).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

#: Module name a script imports -> the mlws module that stands for it.
ALIASES: dict[str, str] = {
    "azureml.contrib.services.aml_request": "mlws.runtime.aml_request",
    "azureml.contrib.services.aml_response": "mlws.runtime.aml_response",
    "azureml_inference_server_http.api.aml_request": "mlws.runtime.aml_request",
    "azureml_inference_server_http.api.aml_response": "mlws.runtime.aml_response",
}
#: The packages above the aliases, made as empty packages when no real one exists.
_PARENTS = frozenset(
    name.rsplit(".", depth)[0] for name in ALIASES for depth in range(1, name.count(".") + 1)
)


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module; exec_module puts the real one in its place

    def exec_module(self, module: ModuleType) -> None:
        target = ALIASES.get(module.__name__)
        if target is not None:
            # The import system returns what sys.modules holds after exec_module: the mlws module
            # itself, so both names give the same classes.
            sys.modules[module.__name__] = importlib.import_module(target)


class AzureMLFinder(importlib.abc.MetaPathFinder):
    """Finds the Azure ML names of :data:`ALIASES` (and their parent packages), nothing else."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in ALIASES and fullname not in _PARENTS:
            return None
        parent = sys.modules.get(fullname.rpartition(".")[0])
        if parent is not None and not isinstance(getattr(parent, "__loader__", None), _AliasLoader):
            return None  # inside a real package: never fill in names it lacks
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(), is_package=fullname in _PARENTS
        )


def install() -> None:
    """Append the finder to ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, AzureMLFinder) for finder in sys.meta_path):
        sys.meta_path.append(AzureMLFinder())
