"""Errors a user can act on: a bad spec, a rejected batch, a vanished file, a busy warehouse."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class ValidationLoopError(Exception):
    """Base of every error this package raises on purpose."""


class SpecError(ValidationLoopError):
    """A loop spec that does not validate; names the file and each bad field."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = problems
        super().__init__(f"{origin}: " + "; ".join(problems))


class NothingToCompare(ValidationLoopError):
    """A comparison with no row on one side (no batch yet, or every human item flagged)."""


class LockTimeoutError(ValidationLoopError):
    """A file lock stayed held by another process for longer than the timeout."""


@dataclass(frozen=True)
class Rejection:
    """Why a batch file was rejected: what, where (column, row, line) and a sentence."""

    kind: str
    message: str
    column: str | None = None
    row: int | None = None
    line: int | None = None

    def located(self) -> str:
        """The message behind its place: `column 'age', row 17: value 'x' is not numeric`."""
        place = [
            f"{label} {value!r}" if label == "column" else f"{label} {value}"
            for label, value in (("column", self.column), ("row", self.row), ("line", self.line))
            if value is not None
        ]
        return f"{', '.join(place)}: {self.message}" if place else self.message

    def to_dict(self) -> dict[str, Any]:
        """The rejection as a JSON-ready mapping."""
        return asdict(self)


class BatchRejected(ValidationLoopError):
    """A batch file that cannot be ingested; carries the file name and a `Rejection`."""

    def __init__(self, file_name: str, rejection: Rejection) -> None:
        self.file_name = file_name
        self.rejection = rejection
        super().__init__(f"{file_name}: {rejection.located()}")


class FileVanished(ValidationLoopError):
    """A batch file that was moved or deleted (by another process, or an earlier file of the same
    command) before it could be read: skipped, neither stored nor quarantined."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        super().__init__(f"{file_name}: no such file (moved or deleted before it could be read)")


class ConfigError(ValidationLoopError):
    """A configuration (a generator config, an environment setting) that is missing, malformed
    or cannot be written."""
