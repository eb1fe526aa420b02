#!/usr/bin/env python3
"""Offline preview of a pull request: ``mlws render --diff`` of two git commits, as one comment.

    python scripts/render_diff.py --base REF [--head REF] [-o FILE] PROGRAM[:STACK]...

For each Pulumi program folder (relative to the repository root) and each of its stacks (the
``Pulumi.<stack>.yaml`` files it has at either commit, or only ``STACK`` when given), the program
is rendered with ``mlws render`` at ``--base`` and at ``--head`` (default ``HEAD``), the two renders
are compared with ``mlws render --diff``, and the results are written as one Markdown document,
headed by :data:`MARKER` so that a workflow can find and update its earlier comment.

Both commits are unpacked with ``git archive`` into the same scratch folder one after the other, so
anything a program computes from its own absolute path (a build context, a source directory) is
the same on both sides and only real changes show. A program or stack missing at one commit is
rendered as empty there: everything is created (or deleted). No cloud credentials, no Pulumi
engine: the renders run under mocks, which is why a workflow can run this for a fork's pull request.

Exit status: 0 when every render and diff succeeded; 1 when one failed (its one-line error is in
the document, which is still written); 2 for bad arguments (an unknown ref, no ``mlws``).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: The first line of the document: how a workflow recognises its own earlier comment.
MARKER = "<!-- mlws-render-diff -->"
#: ``mlws render``'s JSON layout (mlws.render.model.FORMAT), for the empty side of a new program.
RENDER_FORMAT = "mlws-render/1"
#: A stack's config file: ``Pulumi.<stack>.yaml``.
STACK_FILE = re.compile(r"Pulumi\.(.+)\.yaml")


class UsageError(Exception):
    """A bad argument: reported on one line, exit status 2."""


@dataclass(frozen=True)
class Target:
    """One program folder, and the one stack asked for (``None``: every stack it has)."""

    program: str
    stack: str | None


@dataclass(frozen=True)
class Section:
    """The outcome for one program and stack: the diff's text, or the error that stopped it."""

    program: str
    stack: str
    text: str
    error: str | None = None

    @property
    def title(self) -> str:
        """``Resources: ...`` (the diff's last line) or ``No changes.`` or ``failed``."""
        if self.error is not None:
            return "render failed"
        last = self.text.strip().splitlines()[-1] if self.text.strip() else ""
        return last.removeprefix("Resources: ")


def parse_target(text: str) -> Target:
    """``services/api`` or ``services/api:prod``."""
    program, _, stack = text.partition(":")
    program = program.strip().rstrip("/")
    if not program or Path(program).is_absolute() or ".." in Path(program).parts:
        raise UsageError(f"{text!r} is not a program folder inside the repository")
    return Target(program, stack.strip() or None)


def git(repo: Path, *args: str) -> bytes:
    """``git ARGS`` in ``repo``; its stderr's last line as a :class:`UsageError` on failure."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return done.stdout


def resolve(repo: Path, ref: str) -> str:
    """The commit ``ref`` names (full SHA)."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except UsageError:
        raise UsageError(f"{ref!r} names no commit in {repo}") from None


def unpack(repo: Path, commit: str, tree: Path) -> None:
    """Make ``tree`` hold exactly the files of ``commit`` (nothing left from an earlier one)."""
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = git(repo, "archive", "--format=tar", commit)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")


def stacks_at(repo: Path, commit: str, program: str) -> set[str]:
    """The stacks ``program`` has a ``Pulumi.<stack>.yaml`` for at ``commit``."""
    names = git(repo, "ls-tree", "--name-only", commit, f"{program}/").decode().splitlines()
    found = (STACK_FILE.fullmatch(name.rsplit("/", 1)[-1]) for name in names)
    return {match[1] for match in found if match is not None}


def empty_render(program: Path, stack: str) -> str:
    """The render of a program that does not exist (yet, or any more): no resources."""
    project = program.name
    pulumi_yaml = program / "Pulumi.yaml"
    if pulumi_yaml.is_file():
        for line in pulumi_yaml.read_text(encoding="utf-8").splitlines():
            if line.startswith("name:"):
                project = line.removeprefix("name:").strip().strip("'\"")
    document = {"format": RENDER_FORMAT, "project": project, "stack": stack, "resources": []}
    return json.dumps(document) + "\n"


def one_line(stderr: str) -> str:
    """The last non-empty line of a command's error output."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "failed with no message"


class Previewer:
    """Renders the targets at two commits in one scratch folder and diffs them."""

    def __init__(self, repo: Path, mlws: str, scratch: Path) -> None:
        self.repo = repo
        self.mlws = mlws
        self.tree = scratch / "tree"
        self.out = scratch / "renders"
        self.out.mkdir(parents=True)

    def stacks(self, targets: list[Target], base: str, head: str) -> list[tuple[str, str]]:
        """Every (program, stack) to compare: the stacks found at either commit, sorted."""
        found: dict[str, set[str]] = {t.program: {t.stack} if t.stack else set() for t in targets}
        wanted_all = {t.program for t in targets if t.stack is None}
        for commit in (base, head):
            for program in wanted_all:
                found[program] |= stacks_at(self.repo, commit, program)
        return sorted((program, stack) for program, stacks in found.items() for stack in stacks)

    def render_side(self, commit: str, side: str, pairs: list[tuple[str, str]]) -> dict[int, str]:
        """Render every pair at ``commit`` into ``renders/<side>-<i>.json``; errors by index."""
        unpack(self.repo, commit, self.tree)
        errors: dict[int, str] = {}
        for index, (program, stack) in enumerate(pairs):
            folder = self.tree / program
            target = self.out / f"{side}-{index}.json"
            if (
                not (folder / "Pulumi.yaml").is_file()
                or not (folder / f"Pulumi.{stack}.yaml").is_file()
            ):
                target.write_text(empty_render(folder, stack), encoding="utf-8")
                continue
            done = subprocess.run(
                [
                    self.mlws,
                    "render",
                    str(folder),
                    "--stack",
                    stack,
                    "-f",
                    "json",
                    "-o",
                    str(target),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                errors[index] = f"{side} ({commit[:12]}): {one_line(done.stderr)}"
        return errors

    def diff(self, index: int) -> subprocess.CompletedProcess[str]:
        """``mlws render --diff`` of one pair's two renders, as text."""
        old, new = self.out / f"base-{index}.json", self.out / f"head-{index}.json"
        return subprocess.run(
            [self.mlws, "render", "--diff", str(old), str(new), "-f", "text"],
            capture_output=True,
            text=True,
            check=False,
        )

    def sections(self, targets: list[Target], base: str, head: str) -> list[Section]:
        """Render both commits and diff every program and stack."""
        pairs = self.stacks(targets, base, head)
        failed = self.render_side(base, "base", pairs)
        for index, error in self.render_side(head, "head", pairs).items():
            failed[index] = f"{failed[index]}; {error}" if index in failed else error
        out = []
        for index, (program, stack) in enumerate(pairs):
            if index in failed:
                out.append(Section(program, stack, "", failed[index]))
                continue
            done = self.diff(index)
            if done.returncode != 0:
                out.append(Section(program, stack, "", f"diff: {one_line(done.stderr)}"))
            else:
                out.append(Section(program, stack, done.stdout))
        return out


def document(sections: list[Section], base: str, head: str) -> str:
    """The Markdown comment: one collapsible section per program and stack."""
    lines = [
        MARKER,
        "## Offline preview (`mlws render --diff`)",
        "",
        f"`{base[:12]}` -> `{head[:12]}`, rendered under mocks: no cloud credentials, so provider"
        " defaults and computed values are stand-ins; `pulumi preview` remains the authority.",
        "",
    ]
    if not sections:
        lines.append("No Pulumi program or stack to compare.")
    for section in sections:
        changed = section.error is not None or not section.text.startswith("No changes.")
        lines += [
            "<details open>" if changed else "<details>",
            f"<summary><code>{section.program}</code> stack <code>{section.stack}</code>:"
            f" {section.title}</summary>",
            "",
            "```text",
            (section.error if section.error is not None else section.text).rstrip("\n"),
            "```",
            "</details>",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="+", metavar="PROGRAM[:STACK]")
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--head", default="HEAD", help="the commit to preview (default HEAD)")
    parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    parser.add_argument("--mlws", help="the mlws command (default: mlws on PATH)")
    args = parser.parse_args(argv)
    try:
        targets = [parse_target(text) for text in args.targets]
        mlws = args.mlws or shutil.which("mlws")
        if mlws is None:
            raise UsageError("no mlws command on PATH (pip install 'mlws[infra]')")
        repo = Path(git(Path.cwd(), "rev-parse", "--show-toplevel").decode().strip())
        base, head = resolve(repo, args.base), resolve(repo, args.head)
        with tempfile.TemporaryDirectory(prefix="mlws-render-diff-") as scratch:
            sections = Previewer(repo, mlws, Path(scratch)).sections(targets, base, head)
    except UsageError as exc:
        print(f"render_diff: error: {exc}", file=sys.stderr)
        return 2
    text = document(sections, base, head)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for section in sections:
        if section.error is not None:
            print(
                f"render_diff: {section.program} {section.stack}: {section.error}", file=sys.stderr
            )
    return 1 if any(section.error is not None for section in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
