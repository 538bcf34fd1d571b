"""The Dagster resource that hands assets and sensors the validation_loop home."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from validation_loop.home import Home
from validation_loop.spec import LoopSpec, load_spec


class HomeResource(dg.ConfigurableResource):
    """The home folder (loops, warehouse) that runs read and write."""

    path: str

    def home(self) -> Home:
        """The home as a library object."""
        return Home(Path(self.path))

    def spec(self, loop: str) -> LoopSpec:
        """The loop's validated spec, read fresh on every call."""
        return load_spec(self.home().loop(loop).spec_path)


def env_value(name: str) -> str | None:
    """An environment variable through Dagster's `EnvVar` (read at run time, never stored)."""
    return dg.EnvVar(name).get_value()
