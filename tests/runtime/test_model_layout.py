"""The one model layout shared by ``mlws serve`` and the image's build context."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from mlws.runtime.model_layout import azureml_model_dir, link_models, model_target


def test_a_folder_is_the_version_folder_and_a_file_goes_inside_it(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "model.pkl").write_text("x")
    assert model_target("m", 3, tmp_path / "folder") == PurePosixPath("m/3")
    assert model_target("m", 3, tmp_path / "model.pkl") == PurePosixPath("m/3/model.pkl")


def test_model_dir_is_the_models_folder_for_one_and_the_root_for_several() -> None:
    root = PurePosixPath("/var/azureml-app/azureml-models")
    assert azureml_model_dir(root, [("m", 3)]) == "/var/azureml-app/azureml-models/m/3"
    assert azureml_model_dir(root, [("m", 3), ("n", 1)]) == "/var/azureml-app/azureml-models"


def test_link_models_lays_out_folders_and_files(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "w.bin").write_text("w")
    (tmp_path / "model.pkl").write_text("p")
    root = tmp_path / "root"
    models = [("a", "1", tmp_path / "folder"), ("b", "2", tmp_path / "model.pkl")]
    assert link_models(root, models) == str(root)
    assert (root / "a" / "1" / "w.bin").read_text() == "w"
    assert (root / "b" / "2" / "model.pkl").read_text() == "p"
