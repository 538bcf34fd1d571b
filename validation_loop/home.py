"""Where a home keeps its loops, warehouse and Dagster instance: paths only, no I/O on import."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from validation_loop.errors import ValidationLoopError
from validation_loop.spec import LOOP_NAME_PATTERN

Source = Literal["human", "synthetic"]
SOURCES: tuple[Source, ...] = ("human", "synthetic")
HOME_ENV = "VALIDATION_LOOP_HOME"


class LoopNameError(ValidationLoopError):
    """A loop name that `loop.yaml` would refuse (and that could lead out of the home)."""


def check_loop_name(name: str) -> str:
    """Return `name` if it is a valid loop name, else raise `LoopNameError` saying what is."""
    if re.fullmatch(LOOP_NAME_PATTERN, name) is None:
        raise LoopNameError(
            f"invalid loop name {name!r}: a loop name is a lower-case letter followed by up to "
            "62 lower-case letters, digits or underscores (e.g. churn_v2)"
        )
    return name


@dataclass(frozen=True)
class LoopLayout:
    """The folders of one loop inside a home."""

    root: Path

    @property
    def name(self) -> str:
        """The loop's name (its folder's name)."""
        return self.root.name

    @property
    def spec_path(self) -> Path:
        """The loop's `loop.yaml`."""
        return self.root / "loop.yaml"

    def landing(self, source: Source) -> Path:
        """The drop folder for batches of one source."""
        return self.root / "landing" / source

    @property
    def quarantine(self) -> Path:
        """Rejected files, each with a `<file>.error.json` beside it."""
        return self.root / "quarantine"

    @property
    def archive(self) -> Path:
        """Accepted files, after ingestion."""
        return self.root / "archive"

    @property
    def generator(self) -> Path:
        """Versioned generator configs (`v0001.yaml`, ...)."""
        return self.root / "generator"

    def create(self) -> None:
        """Make every folder of the loop (idempotent)."""
        for folder in (
            *(self.landing(s) for s in SOURCES),
            self.quarantine,
            self.archive,
            self.generator,
        ):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Home:
    """A folder holding every loop, the DuckDB warehouse and the Dagster instance."""

    root: Path

    @classmethod
    def from_env(cls, override: str | os.PathLike[str] | None = None) -> Home:
        """The home named by `override`, else `$VALIDATION_LOOP_HOME`, else `./data`."""
        raw = override or os.environ.get(HOME_ENV) or "data"
        return cls(Path(raw).expanduser().resolve())

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB warehouse file."""
        return self.root / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance folder the CLI and `validation-loop ui` share."""
        return self.root / "dagster"

    @property
    def loops_dir(self) -> Path:
        """The folder of all loops."""
        return self.root / "loops"

    def reports_dir(self, loop: str) -> Path:
        """Where a loop's gap reports are written (`<report id>.json`, `.md`, `.html`)."""
        return self.root / "reports" / loop

    def loop(self, name: str) -> LoopLayout:
        """The layout of the loop called `name` (it need not exist yet); `LoopNameError` if
        the name is not valid, so no loop folder lies outside `loops/`."""
        return LoopLayout(self.loops_dir / check_loop_name(name))

    def loop_names(self) -> list[str]:
        """Names of the loops that have a `loop.yaml`, sorted."""
        if not self.loops_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.loops_dir.glob("*/loop.yaml"))
