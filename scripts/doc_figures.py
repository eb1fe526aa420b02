"""Check (or rewrite) the command outputs and figures the docs quote, by running the commands.

A Markdown file marks what it quotes with an HTML comment (invisible once rendered):

* ``<!-- figure -->`` on the line before a ```` ```console ```` block: each ``$ COMMAND`` line in
  the block is run and the block's other lines must be exactly what the commands printed.
* ``<!-- figure: COMMAND -->`` on the line before any other fenced block: the block must be
  exactly what ``COMMAND`` prints.
* ``<!-- figure: COMMAND -->TEXT<!-- /figure -->`` inline (a table cell, a sentence): ``TEXT``
  must be ``COMMAND``'s output, stripped.

Commands run under bash in a fresh temporary folder holding a link to the repository's
``examples/`` (so ``mlws render examples/aks-gpu -o old.json`` leaves nothing in the clone; a
``/tmp/`` path in a command means that folder too), with the repository's ``.venv/bin`` first on
``PATH``, ``COLUMNS=100``, ``$REPO`` naming the repository, and the helpers in :data:`HELPERS`
(``resource_count examples/aks-gpu``). Only deterministic outputs can be quoted this way (offline
renders, diffs, error lines; not timings or request ids). Content hashes (image tags, digests) are
compared as placeholders: they change whenever a source that goes into an image does.

``python scripts/doc_figures.py`` checks every figure of README.md, docs/ and examples/*/README.md
and exits 1 naming the stale ones; ``--write`` puts the current outputs in place instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The documents whose figures are checked.
DOCUMENTS = ("README.md", "docs/*.md", "examples/*/README.md")

_BLOCK_MARK = re.compile(r"^<!-- figure(?:: (?P<command>.+?))? -->\s*$")
_INLINE = re.compile(r"<!-- figure: (?P<command>.+?) -->(?P<text>.*?)<!-- /figure -->")
_FENCE = re.compile(r"^(?P<fence>```+)(?P<lang>\S*)\s*$")


@dataclass(frozen=True)
class Figure:
    """One quoted output: where it is, what produces it, and what the document says."""

    path: Path
    line: int
    """1-based line of the quoted text (the first line inside a block)."""
    commands: tuple[str, ...]
    """Bash commands run in order; their outputs joined make the figure."""
    quoted: str
    """The text in the document."""
    console: bool = False
    """A console block: the quoted text interleaves ``$ command`` lines and their outputs."""
    span: tuple[int, int] = (0, 0)
    """Where :attr:`quoted` sits in the file's text (character offsets)."""
    inline: bool = False
    """Inline text: compared with the command's output stripped."""

    @property
    def where(self) -> str:
        """``docs/render.md:23``."""
        return f"{self.path.relative_to(REPO)}:{self.line}"


def documents(root: Path = REPO) -> list[Path]:
    """The Markdown files whose figures are checked."""
    return sorted({path for pattern in DOCUMENTS for path in root.glob(pattern)})


def figures(path: Path) -> list[Figure]:
    """Every marked figure in ``path``."""
    text = path.read_text(encoding="utf-8")
    found: list[Figure] = []
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for number, line in enumerate(lines):
        mark = _BLOCK_MARK.match(line)
        if mark is None:
            for inline in _INLINE.finditer(line):
                start = offsets[number] + inline.start("text")
                found.append(
                    Figure(
                        path,
                        number + 1,
                        (inline["command"],),
                        inline["text"],
                        span=(start, start + len(inline["text"])),
                        inline=True,
                    )
                )
            continue
        fence = _FENCE.match(lines[number + 1]) if number + 1 < len(lines) else None
        if fence is None:
            raise ValueError(f"{path}:{number + 1}: a figure mark must precede a fenced block")
        end = next(
            (i for i in range(number + 2, len(lines)) if lines[i].rstrip() == fence["fence"]),
            None,
        )
        if end is None:
            raise ValueError(f"{path}:{number + 2}: the figure's block is not closed")
        quoted = "".join(lines[number + 2 : end])
        span = (offsets[number + 2], offsets[end])
        if mark["command"] is not None:
            found.append(Figure(path, number + 3, (mark["command"],), quoted, span=span))
            continue
        commands = tuple(
            block_line[2:].rstrip("\n")
            for block_line in quoted.splitlines(keepends=True)
            if block_line.startswith("$ ")
        )
        if not commands:
            raise ValueError(f"{path}:{number + 1}: a bare figure mark needs `$ ` command lines")
        found.append(Figure(path, number + 3, commands, quoted, console=True, span=span))
    return found


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLWS_", "PULUMI_"))}
    env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    env["REPO"] = str(root)
    return env


#: Shell functions a command may use (a table cell cannot hold a ``|``).
HELPERS = """
resource_count() { mlws render "$@" | grep -om1 '^[0-9]* resources' | cut -d' ' -f1; }
"""


def _run(command: str, cwd: Path, env: dict[str, str]) -> str:
    scratch = command.replace("/tmp/", f"{cwd}/")  # noqa: S108 - the docs' scratch files, kept here
    result = subprocess.run(  # noqa: S603 - the docs' own commands, by design
        ["bash", "-c", HELPERS + scratch],  # noqa: S607
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.stdout + result.stderr


def produce(figure: Figure, root: Path = REPO) -> str:
    """What the figure's commands print now, in the form the document quotes it."""
    env = _environment(root)
    with tempfile.TemporaryDirectory(prefix="mlws-doc-figures-") as work:
        cwd = Path(work)
        (cwd / "examples").symlink_to(root / "examples", target_is_directory=True)
        if not figure.console:
            out = _run(figure.commands[0], cwd, env)
            return out.strip() if figure.inline else out
        parts = []
        for command in figure.commands:
            parts.append(f"$ {command}\n")
            parts.append(_run(command, cwd, env))
        return "".join(parts)


#: Content hashes (image tags, digests) change with every source change and are not figures:
#: compared as placeholders.
_HASH = re.compile(r"(?<=[:@])(?:sha256:)?[0-9a-f]{20,64}\b")


def _comparable(text: str) -> str:
    return _HASH.sub("<hash>", text)


def stale(figure: Figure, root: Path = REPO) -> str | None:
    """The current output when it differs from what the document quotes, else None."""
    now = produce(figure, root)
    return None if _comparable(now) == _comparable(figure.quoted) else now


def main(argv: list[str]) -> int:
    """Check every figure (exit 1 naming stale ones) or, with ``--write``, refresh them."""
    write = "--write" in argv
    bad = 0
    for path in documents():
        updates: list[tuple[Figure, str]] = []
        for figure in figures(path):
            now = stale(figure)
            if now is None:
                print(f"ok     {figure.where}")
                continue
            bad += 1
            print(f"stale  {figure.where}: {figure.commands[-1]}")
            updates.append((figure, now))
        if write and updates:
            text = path.read_text(encoding="utf-8")
            for figure, now in sorted(updates, key=lambda u: -u[0].span[0]):
                text = text[: figure.span[0]] + now + text[figure.span[1] :]
            path.write_text(text, encoding="utf-8")
    if bad and not write:
        print(f"{bad} stale figure(s): run `bash scripts/doc-figures --write` and review the diff")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
