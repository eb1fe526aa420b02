"""``mlws package``: the context ScoringImage builds, written to a folder, and how to use it."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from mlws.render import render_program
from tests.cli.cli_helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SKLEARN = EXAMPLES / "local-sklearn"
PIP = ["--pip", "scikit-learn==1.7.2", "--pip", "joblib", "--pip", "numpy"]


def package(*args: str) -> tuple[int, str, str]:
    result = run_cli("package", *args)
    return result.exit_code, result.stdout, result.stderr


def files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".mlws-context.json"
    )


def test_writes_exactly_the_context_the_example_scoring_image_builds(tmp_path: Path) -> None:
    render = render_program(SKLEARN, stack="dev")
    (image,) = render.of_type("docker:index/image:Image")
    example_context = SKLEARN / image.inputs["build"]["context"]
    example_tag = str(image.inputs["imageName"]).rpartition(":")[2]
    output = tmp_path / "diabetes"
    code, out, err = package(
        str(SKLEARN / "scoring"), "--model", f"diabetes:1={SKLEARN / 'model'}", *PIP,
        "--output", str(output),
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert (
        lines[0] == f"wrote {len(files(output))} files to {output} (image diabetes:{example_tag})"
    )
    assert lines[1] == f"docker build -t diabetes:{example_tag} {output}"
    assert lines[2].startswith("docker run --rm -p 127.0.0.1:8890:5001 -e MLWS_AUTH_MODE=key")
    assert lines[2].endswith(f" diabetes:{example_tag}")
    assert files(output) == files(example_context)
    _, mismatch, errors = filecmp.cmpfiles(output, example_context, files(output), shallow=False)
    assert (mismatch, errors) == ([], [])


def test_requirements_file_model_dir_and_r(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# deps\nscikit-learn==1.7.2  # pinned\n\njoblib\nnumpy\n")
    one = tmp_path / "one"
    code, out, err = package(
        str(SKLEARN / "scoring"), "--model-dir", str(SKLEARN / "model"),
        "--requirements", str(requirements), "-o", str(one), "--repository", "team/diabetes",
    )  # fmt: skip
    assert code == 0, err
    assert "(image team/diabetes:" in out
    assert (one / "models" / "model" / "1" / "model.joblib").is_file()
    assert (one / "requirements.txt").read_text().endswith("scikit-learn==1.7.2\njoblib\nnumpy\n")
    r = EXAMPLES / "r-accident"
    code, out, err = package(
        str(r / "scoring"), "--entry-script", "score.R", "--r", "--model-dir", str(r / "model"),
        "--base-image-digest", "sha256:" + "a" * 64, "-o", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 0, err
    dockerfile = (tmp_path / "r" / "Dockerfile").read_text()
    assert f"FROM python:3.11-slim@sha256:{'a' * 64}" in dockerfile
    assert "r-base-core" in dockerfile


def test_ca_certificate_goes_into_the_context(tmp_path: Path) -> None:
    pem = tmp_path / "proxy.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    out = tmp_path / "out"
    code, _, err = package(
        str(SKLEARN / "scoring"), "--ca-certificate", str(pem), "-o", str(out)
    )  # fmt: skip
    assert code == 0, err
    assert (out / "ca-certificates" / "proxy.crt").read_text() == pem.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--output DIR is required"),
        (
            ("--model-dir", "/nonexistent", "-o", "{out}"),
            "model directory /nonexistent does not exist",
        ),
        (("--model", "m:latest=.", "-o", "{out}"), "model version is a number from 1 up"),
        (("--model", "m:1=.", "--model-dir", ".", "-o", "{out}"), "either --model-dir or --model"),
        (("--entry-script", "nope.py", "-o", "{out}"), "entry_script: 'nope.py' is not a file"),
        (("--pip", "-e .", "-o", "{out}"), "pip_packages"),
        (("--requirements", "/nonexistent.txt", "-o", "{out}"), "No such file or directory"),
        (("--base-image-digest", "latest", "-o", "{out}"), "base_image_digest"),
        (
            ("--ca-certificate", "/nonexistent.pem", "-o", "{out}"),
            "ca_certificates[0]: cannot read",
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    code, out, err = package(str(SKLEARN / "scoring"), *argv)
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("mlws package: error: ")
    assert message in lines[0]
    assert "Traceback" not in err + out


def test_refuses_an_output_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me\n")
    code, _, err = package(str(SKLEARN / "scoring"), "-o", str(tmp_path))
    assert code == 2
    assert "mlws package: error: " in err
    assert "not empty" in err
    assert (tmp_path / "mine.txt").read_text() == "keep me\n"
