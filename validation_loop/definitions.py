"""The Dagster entry point (`dagster dev`, workspace.yaml): every loop of $VALIDATION_LOOP_HOME."""

from __future__ import annotations

import dagster as dg

from validation_loop.defs.build import build_definitions
from validation_loop.home import Home


@dg.definitions
def defs() -> dg.Definitions:
    """Build the Definitions when Dagster loads the code location, not at import."""
    return build_definitions(Home.from_env())
