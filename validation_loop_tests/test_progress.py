"""Progress lines show on a terminal only."""

from __future__ import annotations

import io

from validation_loop.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_without_tty() -> None:
    stream = io.StringIO()
    progress = Progress(2, "ingesting", stream)
    progress.step("a.csv")
    progress.close()
    assert stream.getvalue() == ""


def test_counts_on_tty() -> None:
    stream = _Tty()
    progress = Progress(2, "ingesting", stream)
    progress.step("a.csv")
    assert "[1/2] ingesting: a.csv" in stream.getvalue()
