"""Make a Great Expectations Data Docs site render without any network access.

GX 1.x pages load Bootstrap, jQuery, Popper, bootstrap-table, bootstrap-datepicker, Font
Awesome, Vega and a dark-mode theme from CDNs, and the GX logo from S3. `make_offline` copies the
vendored builds in `docs_assets/` (see its README for packages, versions and licences) into
`<site>/static/vendor/` and points every page at them with paths relative to that page. A
resource with no local copy is dropped (an element, an attribute, or a CSS `url()` that becomes
`none`), so no page fetches a stylesheet, script, image or font from the web. Navigation links
(`<a href>`) are left alone: they load nothing until someone follows them.

Run it after every GX build of the site, `build_data_docs()` or a checkpoint's
`UpdateDataDocsAction`: GX re-renders the pages with CDN links each time. Given the
`page_stamps` taken before the build, it reads only the pages the build wrote.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from validation_loop.atomic import copy_file, write_text

logger = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent / "docs_assets"
VENDOR_DIR = Path("static", "vendor")


@dataclass(frozen=True)
class _Asset:
    """A remote resource pattern and the local files that replace it."""

    pattern: re.Pattern[str]  # searched in the lower-cased "host/path" of the URL
    files: tuple[str, ...]  # relative to the site root, one tag per file
    major: int | None = None  # the vendored major version; a URL naming another is not mapped


def _vendored(pattern: str, major: int, *files: str) -> _Asset:
    return _Asset(re.compile(pattern), tuple((VENDOR_DIR / f).as_posix() for f in files), major)


# Most specific first: the first pattern found in a URL wins.
_ASSETS: tuple[_Asset, ...] = (
    _vendored(
        r"/bootstrap-table-filter-control(\.min)?\.css$",
        1,
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    ),
    _vendored(
        r"/bootstrap-table-filter-control(\.min)?\.js$",
        1,
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    ),
    _vendored(r"/bootstrap-table(\.min)?\.css$", 1, "bootstrap-table/bootstrap-table.min.css"),
    _vendored(r"/bootstrap-table(\.min)?\.js$", 1, "bootstrap-table/bootstrap-table.min.js"),
    _vendored(
        r"/bootstrap-datepicker(\.min)?\.css$",
        1,
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    ),
    _vendored(
        r"/bootstrap-datepicker(\.min)?\.js$", 1, "bootstrap-datepicker/bootstrap-datepicker.min.js"
    ),
    _vendored(
        r"/bootstrap-prefers-dark(\.min)?\.css$", 1, "bootstrap-dark/bootstrap-prefers-dark.min.css"
    ),
    _vendored(r"/bootstrap(\.min)?\.css$", 4, "bootstrap/bootstrap.min.css"),
    _vendored(r"/bootstrap(\.min)?\.js$", 4, "bootstrap/bootstrap.min.js"),
    _vendored(r"/jquery(-[\d.]+)?(\.min)?\.js$", 3, "jquery/jquery.min.js"),
    _vendored(r"/popper(\.min)?\.js$", 1, "popper/popper.min.js"),
    _vendored(
        r"font-?awesome.*/(all|fontawesome)(\.min)?\.css$",
        6,
        "fontawesome/css/fontawesome.min.css",
        "fontawesome/css/solid.min.css",
    ),
    _vendored(r"/vega(@[^/]*)?(/build/vega(\.min)?\.js)?$", 5, "vega/vega.min.js"),
    _vendored(
        r"/vega-lite(@[^/]*)?(/build/vega-lite(\.min)?\.js)?$", 5, "vega-lite/vega-lite.min.js"
    ),
    _vendored(
        r"/vega-embed(@[^/]*)?(/build/vega-embed(\.min)?\.js)?$", 6, "vega-embed/vega-embed.min.js"
    ),
    # The navbar logo: GX copies the same image into every site's static/images/.
    _Asset(
        re.compile(r"great-expectations-web-assets\..*/logo-long\.png$"),
        ("static/images/logo-long.png",),
    ),
)

# The first version number in a URL: "@1.19.1/", "/4.3.1/", "jquery-3.7.1.min.js", "vega@5".
_VERSION = re.compile(r"[@/-]v?(\d+)(?:\.\d+)*(?=/|$|\.min\.|\.js$|\.css$)")

# Elements whose attributes load a resource, and those attributes.
_LOADING_ATTRS: dict[str, frozenset[str]] = {
    "script": frozenset({"src"}),
    "link": frozenset({"href"}),
    "img": frozenset({"src", "srcset"}),
    "source": frozenset({"src", "srcset"}),
    "input": frozenset({"src"}),
    "iframe": frozenset({"src"}),
    "embed": frozenset({"src"}),
    "audio": frozenset({"src"}),
    "video": frozenset({"src", "poster"}),
    "track": frozenset({"src"}),
    "object": frozenset({"data"}),
}
# Elements dropped whole when their resource has no local copy; others only lose the attribute.
_DROPPABLE = frozenset({"script", "link", "img", "source", "track"})
# Attributes that make a local file:// load fail (CORS) or are meaningless without the CDN.
_REMOTE_ONLY_ATTRS = frozenset({"integrity", "crossorigin", "referrerpolicy"})

_SCRIPT = re.compile(r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.I | re.S)
_TAG = re.compile(
    rf"<(?P<name>{'|'.join(n for n in _LOADING_ATTRS if n != 'script')})\b(?P<attrs>[^>]*)>", re.I
)
_ATTR = re.compile(
    r"""(?P<name>[^\s"'=<>`/]+)"""
    r"""(?:\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'=<>`]+)))?"""
)
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.I | re.S)
_STYLE_ATTR = re.compile(r"""(\sstyle\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?["']?\s*(?:https?:)?//[^;]*;?""", re.I)
_CSS_URL = re.compile(r"""url\(\s*(["']?)\s*(?:https?:)?//.*?\1\s*\)""", re.I | re.S)


def is_remote(url: str) -> bool:
    """Whether a URL, as written in an attribute, makes the browser go to the network."""
    url = html.unescape(url).strip().lower()
    return url.startswith(("http://", "https://", "//"))


def _local_files(url: str) -> tuple[str, ...] | None:
    """Site-relative files replacing a remote URL, or None when there is no local copy."""
    parts = urlsplit(html.unescape(url).strip())
    where = f"{parts.netloc}{parts.path}".lower().rstrip("/")
    for asset in _ASSETS:
        if not asset.pattern.search(where):
            continue
        version = _VERSION.search(parts.path)
        if asset.major is not None and version and int(version.group(1)) != asset.major:
            logger.warning("%s: vendored copy is major version %s, not mapped", url, asset.major)
            return None
        return asset.files
    return None


def _relative(target: Path, page: Path) -> str:
    """URL path from `page` to `target`, both on disk."""
    return quote(Path(os.path.relpath(target, page.parent)).as_posix())


@dataclass
class _Page:
    """One HTML file being rewritten."""

    path: Path
    site: Path

    def link_to(self, site_file: str) -> str | None:
        """Relative URL of a site file from this page, or None if the file does not exist."""
        target = self.site / site_file
        return _relative(target, self.path) if target.is_file() else None

    def repaired(self, url: str) -> str | None:
        """A local URL that does not resolve, re-anchored at the site's static/ when that works.

        GX 1.x writes the favicon link of validation pages one folder too shallow.
        """
        parts = urlsplit(html.unescape(url).strip())
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            return None
        path = unquote(parts.path)
        if (self.path.parent / path).is_file() or "static/" not in path:
            return None
        return self.link_to(path[path.index("static/") :])

    def rewrite_tag(self, name: str, attrs: str, closing: str) -> str:
        """A tag (or script element) with its resource made local, or "" to drop it."""
        loading = _LOADING_ATTRS[name.lower()]
        found = [m for m in _ATTR.finditer(attrs) if m.group("name").lower() in loading]
        remote = [m for m in found if is_remote(_value(m))]
        if not remote:
            return self._repair(name, attrs, closing, found)
        if len(remote) == 1 and remote[0].group("name").lower() != "srcset":
            files = _local_files(_value(remote[0]))
            links = [self.link_to(f) for f in files or ()]
            if files and all(links):
                kept = _without(attrs, _REMOTE_ONLY_ATTRS)
                match = next(m for m in _ATTR.finditer(kept) if m.group("name").lower() in loading)
                return "".join(
                    f"<{name}{_set_value(kept, match, link)}>{closing}" for link in links if link
                )
        if name.lower() in _DROPPABLE:
            logger.info("%s: dropped %s with no local copy", self.path, name)
            return ""
        dropped = {m.group("name").lower() for m in remote} | _REMOTE_ONLY_ATTRS
        return f"<{name}{_without(attrs, dropped)}>{closing}"

    def _repair(self, name: str, attrs: str, closing: str, found: list[re.Match[str]]) -> str:
        for match in found:
            fixed = self.repaired(_value(match))
            if fixed:
                return f"<{name}{_set_value(attrs, match, fixed)}>{closing}"
        return f"<{name}{attrs}>{closing}"


def _value(match: re.Match[str]) -> str:
    return match.group("dq") or match.group("sq") or match.group("bare") or ""


def _set_value(attrs: str, match: re.Match[str], value: str) -> str:
    start, end = match.span()
    return f'{attrs[:start]}{match.group("name")}="{html.escape(value)}"{attrs[end:]}'


def _without(attrs: str, names: frozenset[str] | set[str]) -> str:
    """Attributes with those names removed, along with the whitespace before each."""
    kept, end = [], 0
    for match in _ATTR.finditer(attrs):
        if match.group("name").lower() in names:
            kept.append(attrs[end : match.start()].rstrip())
            end = match.end()
    return "".join(kept) + attrs[end:]


def _offline_css(css: str) -> str:
    """CSS with remote @imports removed and remote url() replaced by `none`."""
    return _CSS_URL.sub("none", _CSS_IMPORT.sub("", css))


def _rewrite(text: str, page: _Page) -> str:
    def script(m: re.Match[str]) -> str:
        return page.rewrite_tag("script", m.group("attrs"), m.group("body") + "</script>")

    def tag(m: re.Match[str]) -> str:
        return page.rewrite_tag(m.group("name"), m.group("attrs"), "")

    def style_attr(m: re.Match[str]) -> str:
        css = html.unescape(m.group(2) if m.group(2) is not None else m.group(3))
        offline = _offline_css(css)
        return m.group(0) if offline == css else f'{m.group(1)}"{html.escape(offline)}"'

    steps: tuple[Callable[[str], str], ...] = (
        lambda t: _SCRIPT.sub(script, t),
        lambda t: _TAG.sub(tag, t),
        lambda t: _STYLE_BLOCK.sub(lambda m: m.group(1) + _offline_css(m.group(2)) + m.group(3), t),
        lambda t: _STYLE_ATTR.sub(style_attr, t),
    )
    for step in steps:
        text = step(text)
    return text


def page_stamps(site_dir: Path) -> dict[Path, tuple[int, int]]:
    """Modification time and size of every page of a site (none if there is no site yet)."""
    site_dir = Path(site_dir).resolve()
    stamps = {}
    for path in site_dir.rglob("*.html"):
        stat = path.stat()
        stamps[path] = (stat.st_mtime_ns, stat.st_size)
    return stamps


def _copy_if_changed(source: str, target: str) -> str:
    """Copy (atomically, with its times) unless the target already has the source's size and
    modification time."""
    there = Path(target)
    if there.is_file():
        src, dst = Path(source).stat(), there.stat()
        if (src.st_size, src.st_mtime_ns) == (dst.st_size, dst.st_mtime_ns):
            return target
    copy_file(Path(source), there)
    return target


def make_offline(site_dir: Path, unchanged: Mapping[Path, tuple[int, int]] | None = None) -> int:
    """Make a built Data Docs site load nothing from the network; return how many pages changed.

    Copies the vendored assets into `<site_dir>/static/vendor/` (those not there yet) and
    rewrites every `.html` file under `site_dir` whose stamp differs from `unchanged` (from
    `page_stamps` before the build; default: every page): remote stylesheets, scripts, icons and
    images point at the local copies by a path relative to each page, or are dropped when there
    is none. Idempotent: a second run rewrites no page.
    """
    site_dir = Path(site_dir).resolve()
    if not site_dir.is_dir():
        raise FileNotFoundError(f"no Data Docs site at {site_dir}")
    vendor = site_dir / VENDOR_DIR
    shutil.copytree(
        ASSETS_DIR,
        vendor,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__"),
        copy_function=_copy_if_changed,
    )
    before = unchanged or {}
    rewritten = 0
    for path, stamp in sorted(page_stamps(site_dir).items()):
        if vendor in path.parents or before.get(path) == stamp:
            continue
        text = path.read_text(encoding="utf-8")
        new = _rewrite(text, _Page(path, site_dir))
        if new != text:
            write_text(path, new)
            rewritten += 1
    return rewritten
