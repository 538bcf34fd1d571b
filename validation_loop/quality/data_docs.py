"""GX Data Docs for a loop: the suite and every batch's validation, as an offline static site.

The site lives in a file-backed GX project inside the loop folder (`loops/<name>/gx/`); each
validated batch adds one validation result (all its column groups in one), then GX renders that
validation's page and the index, and the pages it wrote are made offline. The suite is stored
and its page rendered again only when its entries changed since the last publish (their
SHA-256 is kept in `gx/suite.sha256`). A file lock keeps two runs from rebuilding it at once.

GX's page templates print section names, a column section's heading and plain-text content
blocks (table cells such as observed values) as HTML, unescaped; the site's suite and validation
pages are rendered with `InertPageView`, which escapes them, so a column name or value shows as
text and never becomes markup.
"""

from __future__ import annotations

import hashlib
import html
import json
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.exceptions import DataContextError
from great_expectations.render.components import RenderedDocumentContent
from great_expectations.render.renderer.column_section_renderer import (
    convert_to_string_and_escape,
)
from great_expectations.render.view import DefaultJinjaPageView
from jinja2 import pass_context
from jinja2.runtime import Context

from validation_loop.atomic import write_text
from validation_loop.home import LoopLayout
from validation_loop.locks import file_lock
from validation_loop.quality.offline_docs import make_offline, page_stamps

SITE_NAME = "local_site"
SITE = Path("gx") / "uncommitted" / "data_docs" / SITE_NAME
SUITE_DIGEST = Path("gx") / "suite.sha256"
# In the suite digest: a suite page rendered before `InertPageView` is rendered again once.
_RENDERING = "inert-view"


class InertPageView(DefaultJinjaPageView):
    """GX's page view with the text its templates would print as raw HTML escaped: each
    section's name (the sidebar link), a column section's heading, and plain-text content
    blocks (table cells such as observed values, headers, list items)."""

    def render(
        self, document: RenderedDocumentContent, template: str | None = None, **kwargs: Any
    ) -> str:
        """The page's HTML, with section names and column headings escaped."""
        self._validate_document(document)
        page = document.to_json_dict()
        for section in page.get("sections") or []:
            _escape_section(section)
        return self._get_template(template or self._template).render(page, **kwargs)

    @pass_context
    def render_content_block(
        self,
        jinja_context: Context,
        content_block: Any,
        index: Any = None,
        content_block_id: Any = None,
        render_to_markdown: bool = False,
    ) -> Any:
        """A content block as GX renders it, a plain string (alone or in a list) as text."""
        if not render_to_markdown:
            is_list = isinstance(content_block, list)
            content_block = [_text(b) for b in content_block] if is_list else _text(content_block)
        return super().render_content_block(
            jinja_context, content_block, index, content_block_id, render_to_markdown
        )


def _text(block: Any) -> Any:
    """A plain-string content block escaped; any other block as it is."""
    return html.escape(block) if isinstance(block, str) else block


def _escape_section(section: dict[str, Any]) -> None:
    """Escape a rendered section's name and the header that shows it (a column section's
    heading is the column name as a GX string template, with `$` doubled)."""
    name = section.get("section_name")
    if not isinstance(name, str):
        return
    section["section_name"] = html.escape(name)
    heading = convert_to_string_and_escape(name)
    for block in section.get("content_blocks") or []:
        header = block.get("header") if isinstance(block, dict) else None
        template = header.get("string_template") if isinstance(header, dict) else None
        if isinstance(template, dict) and template.get("template") == heading:
            template["template"] = html.escape(heading)


_INERT_VIEW = {"module_name": __name__, "class_name": InertPageView.__name__}
_INERT_SECTIONS = {"expectations": {"view": _INERT_VIEW}, "validations": {"view": _INERT_VIEW}}


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
        _use_inert_view(context)
        suite_key = ExpectationSuiteIdentifier(name=suite_name)
        digest = _suite_digest(suite_name, entries)
        digest_path = layout.root / SUITE_DIGEST
        changed = not digest_path.exists() or digest_path.read_text(encoding="utf-8") != digest
        if changed:
            _replace_suite(context, gx.ExpectationSuite(name=suite_name, expectations=entries))
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
            expectation_suite_identifier=suite_key,
            run_id=RunIdentifier(run_name=batch_id, run_time=validated_at),
            batch_identifier=batch_id,
        )
        context.validation_results_store.set(key, combined)
        site = layout.root / SITE
        before = page_stamps(site)
        suite_page = changed or not (site / "expectations" / f"{suite_name}.html").is_file()
        context.build_data_docs(resource_identifiers=[key, suite_key] if suite_page else [key])
        make_offline(site, unchanged=before)
        if changed:
            write_text(digest_path, digest)
    return validation_page(layout, batch_id)


def validation_page(layout: LoopLayout, batch_id: str) -> Path:
    """The Data Docs page of a batch's latest validation (the site's index if there is none)."""
    pages = sorted((layout.root / SITE / "validations").glob(f"**/{batch_id}.html"))
    return pages[-1] if pages else site_index(layout)


def _use_inert_view(context: AbstractDataContext) -> None:
    """Render the site's suite and validation pages with `InertPageView` (for this context)."""
    sites = dict(context.variables.data_docs_sites or {})
    sites[SITE_NAME] = {**sites[SITE_NAME], "site_section_builders": _INERT_SECTIONS}
    context.variables.data_docs_sites = sites


def _suite_digest(suite_name: str, entries: list[dict[str, Any]]) -> str:
    """A fingerprint of the suite as published: its name and entries, and how pages render."""
    text = json.dumps([_RENDERING, suite_name, entries], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replace_suite(context: AbstractDataContext, suite: gx.ExpectationSuite) -> None:
    """Store the suite in place of the one of that name (GX's `add_or_update` compares every
    expectation with every stored one, which is slow for large suites; ids are not used here)."""
    with suppress(DataContextError):  # none stored yet
        context.suites.delete(suite.name)
    context.suites.add(suite)
