"""Progress on a terminal that stays silent in logs and CI (no TTY)."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """A one-line `[3/10] label: note` counter, redrawn in place; silent off a terminal."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.done = 0

    def step(self, note: str) -> None:
        """Count one step and show what it was."""
        self.done += 1
        if self.enabled:
            line = f"[{self.done}/{self.total}] {self.label}: {note}"
            self.stream.write("\r\033[K" + line[:200])
            self.stream.flush()

    def close(self) -> None:
        """End the progress line."""
        if self.enabled and self.done:
            self.stream.write("\r\033[K")
            self.stream.flush()
