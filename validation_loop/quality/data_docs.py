"""GX Data Docs for a loop: the suite and every batch's validation, as an offline static site.

The site lives in a file-backed GX project inside the loop folder (`loops/<name>/gx/`); each
validated batch adds one validation result (all its column groups in one), then the site is
rebuilt and made offline. A file lock keeps two runs from rebuilding it at once.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from validation_loop.home import LoopLayout
from validation_loop.locks import file_lock
from validation_loop.quality.offline_docs import make_offline

SITE = Path("gx") / "uncommitted" / "data_docs" / "local_site"


def site_index(layout: LoopLayout) -> Path:
    """The Data Docs home page of a loop."""
    return layout.root / SITE / "index.html"


def publish(
    layout: LoopLayout,
    suite_name: str,
    entries: list[dict[str, Any]],
    batch_id: str,
    results: list[Any],
    validated_at: datetime,
) -> Path:
    """Add one batch's validation to the loop's Data Docs and rebuild them offline.

    Returns the page of this validation.
    """
    with file_lock(layout.root / ".gx_docs.lock", True, 300, f"{layout.root} data docs"):
        context = gx.get_context(mode="file", project_root_dir=layout.root)
        context.enable_analytics(False)
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.suites.add_or_update(gx.ExpectationSuite(name=suite_name, expectations=entries))
        passed = sum(1 for r in results if r.success)
        combined = ExpectationSuiteValidationResult(
            success=passed == len(results),
            results=results,
            suite_name=suite_name,
            statistics={
                "evaluated_expectations": len(results),
                "successful_expectations": passed,
                "unsuccessful_expectations": len(results) - passed,
                "success_percent": 100.0 * passed / len(results) if results else 100.0,
            },
            meta={
                "batch_id": batch_id,
                "active_batch_definition": {
                    "datasource_name": "warehouse",
                    "data_asset_name": batch_id,
                },
            },
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=RunIdentifier(run_name=batch_id, run_time=validated_at),
            batch_identifier=batch_id,
        )
        context.validation_results_store.set(key, combined)
        context.build_data_docs(resource_identifiers=[key, key.expectation_suite_identifier])
        make_offline(layout.root / SITE)
    pages = sorted((layout.root / SITE / "validations").glob(f"**/{batch_id}.html"))
    return pages[-1] if pages else site_index(layout)
