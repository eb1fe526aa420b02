"""``local-process`` logs: the log file the background ``mlws serve`` writes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlws.logsources.base import LogError, LogLine, startup_lines, tail_of

POLL_SECONDS = 0.25
"""How often a followed log file is checked for new lines."""


@dataclass(frozen=True, slots=True)
class LocalFileLogs:
    """The log file of a service run by ``mlws serve`` in the background."""

    path: Path

    def lines(
        self, *, tail: int | None, follow: bool, init: bool, stop: threading.Event
    ) -> Iterator[LogLine]:
        """Read the file's last lines, then follow appends (and truncation or replacement)."""
        if not self.path.is_file():
            raise LogError(f"log file {str(self.path)!r} does not exist (has the service started?)")
        with self.path.open("rb") as handle:
            data = handle.read()
            position = handle.tell()
            inode = os.fstat(handle.fileno()).st_ino
        text = data.decode("utf-8", errors="replace")
        complete, _, partial = text.rpartition("\n") if "\n" in text else ("", "", text)
        existing = complete.split("\n") if complete else []
        if partial and not follow:
            existing.append(partial)
        if init:
            for line in tail_of(startup_lines(existing), tail):
                yield LogLine(line)
            return
        for line in tail_of(existing, tail):
            yield LogLine(line)
        if not follow:
            return
        yield from self._follow(position - len(partial.encode("utf-8")), inode, stop)

    def _follow(self, position: int, inode: int, stop: threading.Event) -> Iterator[LogLine]:
        buffer = b""
        while not stop.is_set():
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                stop.wait(POLL_SECONDS)
                continue
            if stat.st_ino != inode or stat.st_size < position:
                inode, position, buffer = stat.st_ino, 0, b""
            if stat.st_size > position:
                with self.path.open("rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                    position = handle.tell()
                buffer += chunk
                *done, buffer = buffer.split(b"\n")
                for raw in done:
                    yield LogLine(raw.decode("utf-8", errors="replace"))
                continue
            stop.wait(POLL_SECONDS)
