"""Where models land for ``AZUREML_MODEL_DIR``: one layout for ``mlws serve`` and the image.

Azure ML puts each model under ``$MODEL_NAME/$VERSION/`` of a models root: a model registered
from a folder gives that folder's contents, one registered from a single file gives the file inside
the folder (``diabetes/3/model.pkl``). With one model, ``AZUREML_MODEL_DIR`` is that model's folder;
with several, it is the root.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath


def model_folder(name: str, version: str | int) -> PurePosixPath:
    """``NAME/VERSION``, relative to the models root."""
    return PurePosixPath(name, str(version))


def model_target(name: str, version: str | int, source: Path) -> PurePosixPath:
    """Where ``source`` lands, relative to the models root: a folder *is* ``NAME/VERSION`` (its
    contents inside), a file goes inside it as ``NAME/VERSION/<file name>``."""
    folder = model_folder(name, version)
    return folder if source.is_dir() else folder / source.name


def azureml_model_dir(root: PurePosixPath | Path, models: Sequence[tuple[str, str | int]]) -> str:
    """``AZUREML_MODEL_DIR`` for ``models`` (name, version) under ``root``: the model's own folder
    with one model, ``root`` with several."""
    if len(models) == 1:
        name, version = models[0]
        return str(root / model_folder(name, version))
    return str(root)


def link_models(root: Path, models: Sequence[tuple[str, str | int, Path]]) -> str:
    """Lay ``models`` (name, version, source) out under ``root`` with symlinks, as the image does
    with copies; return the ``AZUREML_MODEL_DIR`` to use."""
    for name, version, source in models:
        target = root / model_target(name, version, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source, target_is_directory=source.is_dir())
    return azureml_model_dir(root, [(name, version) for name, version, _ in models])
