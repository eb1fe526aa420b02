"""examples/github-actions: the PR-preview workflows pass actionlint (and a broken copy does not),
pin every action to a commit, keep the fork job away from secrets and write tokens, and its
render-diff script previews a real two-commit git repository."""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "examples" / "github-actions"
WORKFLOWS = TEMPLATE / ".github" / "workflows"
SCRIPT = TEMPLATE / "scripts" / "render_diff.py"


@functools.cache
def _actionlint() -> tuple[str | None, str]:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "actionlint")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        return None, f"scripts/actionlint failed: {errors[-1] if errors else done.stderr[-300:]}"
    return lines[-1], ""


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    """actionlint (from scripts/actionlint) over ``files``, with shellcheck when there is one."""
    binary, reason = _actionlint()
    if binary is None:
        pytest.skip(reason)
    shellcheck = shutil.which("shellcheck") or ""
    return subprocess.run(
        [binary, "-no-color", f"-shellcheck={shellcheck}", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_diff", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_diff"] = module
    spec.loader.exec_module(module)
    return module


render_diff = _load_script()


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    loaded["on"] = loaded.pop(True)  # YAML 1.1 reads the key `on` as true
    return loaded


def test_the_workflows_pass_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["preview.yml", "render-diff-comment.yml"]
    done = actionlint(*files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


BREAKAGES = {
    "an undefined matrix key": (
        "preview.yml",
        "stack-name: ${{ matrix.stack }}",
        "stack-name: ${{ matrix.stak }}",
        'property "stak" is not defined',
        "stack-name:",
    ),
    "a misspelt step id": (
        "render-diff-comment.yml",
        "if: steps.download.outcome == 'success'",
        "if: steps.dowload.outcome == 'success'",
        'property "dowload" is not defined',
        "if:",
    ),
    "a job needing a job that does not exist": (
        "preview.yml",
        "  render-diff:\n    if:",
        "  render-diff:\n    needs: [lint]\n    if:",
        'job "render-diff" needs job "lint" which does not exist',
        "render-diff:",
    ),
    "an unknown permission": (
        "preview.yml",
        "      pull-requests: write # the PR comment",
        "      pull-request: write",
        'unknown permission scope "pull-request"',
        "pull-request:",
    ),
    "an unquoted variable in a run script (shellcheck)": (
        "preview.yml",
        'echo "$PR_NUMBER" > render-diff/pr-number',
        "echo $PR_NUMBER > render-diff/pr-number",
        "SC2086",
        "run: |",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES), ids=list(BREAKAGES))
def test_a_broken_copy_fails_actionlint_naming_the_problem(tmp_path: Path, breakage: str) -> None:
    name, good, bad, message, anchor = BREAKAGES[breakage]
    if message.startswith("SC") and shutil.which("shellcheck") is None:
        pytest.skip("no shellcheck on PATH (scripts/actionlint installs Debian's when root)")
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert text.count(good) == 1
    broken = tmp_path / name
    broken.write_text(text.replace(good, bad), encoding="utf-8")
    done = actionlint(broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stdout
    # The line actionlint points at: the last `anchor` up to the broken text (a run: script's
    # shellcheck findings are reported at its `run:` line).
    broken_text = text.replace(good, bad)
    end = broken_text.index(bad) + len(bad)
    line = broken_text[: broken_text.rindex(anchor, 0, end)].count("\n") + 1
    reported = {int(n) for n in re.findall(rf"{re.escape(name)}:(\d+):\d+:", done.stdout)}
    assert reported == {line}, done.stdout


_USES = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w.-]+/[\w.-]+)@(?P<ref>\S+)(?P<rest>.*)$")


def test_every_action_is_pinned_to_a_commit_with_its_release_named() -> None:
    seen = set()
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "uses:" not in line:
                continue
            match = _USES.match(line)
            assert match is not None, f"{path.name}: {line.strip()}"
            assert re.fullmatch(r"[0-9a-f]{40}", match["ref"]), f"{path.name}: {line.strip()}"
            assert re.fullmatch(r" # v\d+\.\d+\.\d+", match["rest"]), f"{path.name}: {line}"
            seen.add(match["action"])
    assert seen == {
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
        "actions/download-artifact",
        "actions/github-script",
        "pulumi/actions",
    }


def test_pulumi_preview_runs_per_stack_with_the_policy_pack_and_comments_the_diff() -> None:
    job = _workflow("preview.yml")["jobs"]["pulumi-preview"]
    stacks = {(entry["program"], entry["stack"]) for entry in job["strategy"]["matrix"]["include"]}
    assert stacks == {("services/diabetes-gpu", "dev"), ("services/diabetes-gpu", "prod")}
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    settings = step["with"]
    assert settings["command"] == "preview"
    assert settings["stack-name"] == "${{ matrix.stack }}"
    assert settings["work-dir"] == "${{ matrix.program }}"
    assert settings["diff"] is True
    assert settings["comment-on-pr"] is True
    assert settings["policyPacks"] == "${{ github.workspace }}/policy"
    assert (REPO / "policy" / "PulumiPolicy.yaml").is_file()
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_the_fork_job_gets_no_secret_and_no_write_token() -> None:
    workflow = _workflow("preview.yml")
    job = workflow["jobs"]["render-diff"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert job["permissions"] == {"contents": "read"}
    assert workflow["permissions"] == {"contents": "read"}
    assert "secrets." not in yaml.safe_dump(job)
    assert set(workflow["on"]) == {"pull_request"}  # never pull_request_target
    (run,) = [s["run"] for s in job["steps"] if "render_diff.py" in s.get("run", "")]
    assert "--base HEAD^1 --head HEAD" in run


def test_the_comment_workflow_runs_no_pull_request_code() -> None:
    workflow = _workflow("render-diff-comment.yml")
    assert set(workflow["on"]) == {"workflow_run"}
    assert workflow["on"]["workflow_run"]["workflows"] == [_workflow("preview.yml")["name"]]
    (job,) = workflow["jobs"].values()
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert uses == ["actions/download-artifact", "actions/github-script"]
    assert not any("run" in step for step in job["steps"])
    script = job["steps"][1]["with"]["script"]
    assert render_diff.MARKER in script
    assert "pr.head.sha !== process.env.HEAD_SHA" in script


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def infra_repo(tmp_path: Path) -> Path:
    """A git repository with examples/r-accident (program, scoring, model, dev stack) as
    ``services/accidents``: one commit, then a second that changes ``cpu_cores``."""
    repo = tmp_path / "infra"
    program = repo / "services" / "accidents"
    shutil.copytree(
        REPO / "examples" / "r-accident",
        program,
        ignore=shutil.ignore_patterns(".mlws", "__pycache__", "Pulumi.prod.yaml"),
    )
    _git(repo.parent, "init", "-q", "-b", "main", str(repo))
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "the accidents service")
    stack = program / "Pulumi.dev.yaml"
    text = stack.read_text(encoding="utf-8")
    assert text.count("mlws-r-accident:cpu_cores: 1\n") == 1
    stack.write_text(text.replace("cpu_cores: 1\n", "cpu_cores: 2\n"), encoding="utf-8")
    _git(repo, "commit", "-qam", "accidents: 2 CPU cores")
    return repo


def _run_script(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    mlws = Path(sys.executable).parent / "mlws"
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--mlws", str(mlws), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_render_diff_of_two_commits_names_the_changed_resource_and_nothing_else(
    infra_repo: Path,
) -> None:
    pytest.importorskip("pulumi_azure_native", reason="renders examples/r-accident: mlws[infra]")
    comment = infra_repo.parent / "comment.md"
    done = _run_script(infra_repo, "--base", "HEAD~1", "-o", str(comment), "services/accidents")
    assert done.returncode == 0, done.stderr
    text = comment.read_text(encoding="utf-8")
    assert text.startswith(render_diff.MARKER + "\n")
    base, head = _git(infra_repo, "rev-parse", "HEAD~1", "HEAD").split()
    assert f"`{base[:12]}` -> `{head[:12]}`" in text
    assert text.count("<summary>") == 1  # the one stack the program has
    assert "<code>services/accidents</code> stack <code>dev</code>" in text
    changes = [line.strip() for line in text.splitlines() if re.match(r"^ ?[-+~]", line)]
    assert changes == [
        "~ update   azure-native:containerinstance:ContainerGroup  accidents-group",
    ]
    assert "containers[0].resources.requests.cpu: 1 -> 2" in text
    assert 'mlws-r-accident:cpu_cores: "1" -> "2"' in text
    assert "0 to create, 1 to update, 0 to replace, 0 to delete" in text


def test_render_diff_refuses_a_ref_that_names_no_commit(infra_repo: Path) -> None:
    done = _run_script(infra_repo, "--base", "no-such-branch", "services/accidents")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"render_diff: error: 'no-such-branch' names no commit in {infra_repo}"
    ]


def test_the_stacks_are_the_stack_files_at_either_commit(infra_repo: Path) -> None:
    program = infra_repo / "services" / "accidents"
    shutil.copy(REPO / "examples" / "r-accident" / "Pulumi.prod.yaml", program)
    _git(infra_repo, "add", ".")
    _git(infra_repo, "commit", "-qm", "a prod stack")
    head = _git(infra_repo, "rev-parse", "HEAD").strip()
    first = _git(infra_repo, "rev-parse", "HEAD~2").strip()
    assert render_diff.stacks_at(infra_repo, first, "services/accidents") == {"dev"}
    assert render_diff.stacks_at(infra_repo, head, "services/accidents") == {"dev", "prod"}
    assert render_diff.stacks_at(infra_repo, head, "services/none") == set()


def test_a_program_missing_on_one_side_renders_as_empty(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: accidents\nruntime: python\n")
    render = pytest.importorskip("mlws.render.model").Render.from_json(
        render_diff.empty_render(tmp_path, "prod")
    )
    assert (render.project, render.stack, render.resources) == ("accidents", "prod", [])
    assert render_diff.RENDER_FORMAT == pytest.importorskip("mlws.render.model").FORMAT


@pytest.mark.parametrize("bad", ["", "/abs/path", "../outside", "services/../.."])
def test_a_target_outside_the_repository_is_refused(bad: str) -> None:
    with pytest.raises(render_diff.UsageError, match="not a program folder"):
        render_diff.parse_target(bad)


def test_the_comment_shows_a_failed_render_open_with_its_error() -> None:
    sections = [
        render_diff.Section("a", "dev", "No changes. (3 unchanged)\n"),
        render_diff.Section("b", "dev", "", "head (0123456789ab): no Pulumi.dev.yaml"),
    ]
    text = render_diff.document(sections, "1" * 40, "2" * 40)
    assert "<details>\n<summary><code>a</code> stack <code>dev</code>: No changes." in text
    assert "<details open>\n<summary><code>b</code> stack <code>dev</code>: render failed" in text
    assert "head (0123456789ab): no Pulumi.dev.yaml" in text
