"""Offline Data Docs: a real GX 1.x site, rewritten so that no page loads anything from the web."""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pandas as pd
import pytest

from validation_loop.quality.offline_docs import ASSETS_DIR, make_offline, page_stamps

# Tag -> attributes through which a browser fetches a resource (navigation links excluded).
LOADING = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "embed": ("src",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "track": ("src",),
    "input": ("src",),
    "object": ("data",),
}
REMOTE_CSS = re.compile(r"""(url\(\s*["']?\s*|@import\s+["'])(https?:)?//""", re.I)
SUITE = "synthetic.labels_suite"


class Resources(HTMLParser):
    """Resource references, inline CSS and text of a page, read by the standard library parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str]] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in LOADING.get(tag, ()) and value is not None:
                self.refs.append((tag, name, value))
            if name == "style" and value:
                self.css.append(value)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def read(page: Path) -> Resources:
    parser = Resources()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return parser


def remote(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://", "//"))


def is_local_address(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def no_network() -> Iterator[list[object]]:
    """Refuse (and record) every connection that leaves this machine while GX works."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        if not is_local_address(address):
            attempts.append(address)
            raise OSError(f"test forbids network access to {address!r}")
        real_connect(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded)
        yield attempts


@pytest.fixture(scope="module")
def gx_site(tmp_path_factory: pytest.TempPathFactory, no_network: list[object]) -> Path:
    """A Data Docs site as GX 1.x builds it: one suite, one failed validation."""
    root = tmp_path_factory.mktemp("gx_project")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx

        context = gx.get_context(mode="file", project_root_dir=root)
        context.enable_analytics(False)
        assert context.variables.analytics_enabled is False

        frame = pd.DataFrame(
            {
                "label": ["cat", "dog", "cat", "bird"],
                "score": [0.1, 0.5, 0.9, 1.7],
                "text": ["a", "bb", None, "dddd"],
            }
        )
        batch = (
            context.data_sources.add_pandas("synthetic")
            .add_dataframe_asset("labels")
            .add_batch_definition_whole_dataframe("whole")
        )
        suite = context.suites.add(gx.ExpectationSuite(name=SUITE))
        suite.add_expectation(gx.expectations.ExpectColumnToExist(column="label"))
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToBeInSet(column="label", value_set=["cat", "dog"])
        )
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToBeBetween(column="score", min_value=0, max_value=1)
        )
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToNotBeNull(column="text", mostly=0.5)
        )
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name="labels", data=batch, suite=suite)
        )
        result = validation.run(batch_parameters={"dataframe": frame})
        assert not result.success
        assert result.statistics["unsuccessful_expectations"] == 2

        urls = context.build_data_docs()
    site = Path(url2pathname(urlsplit(urls["local_site"]).path)).parent
    assert site == root / "gx" / "uncommitted" / "data_docs" / "local_site"
    return site


@pytest.fixture
def site(gx_site: Path, tmp_path: Path) -> Path:
    """A fresh copy of the GX site for one test to rewrite."""
    return Path(shutil.copytree(gx_site, tmp_path / "local_site"))


def pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "vendor" not in p.parts)


def test_gx_built_a_site_with_cdn_resources_and_no_network(
    gx_site: Path, no_network: list[object]
) -> None:
    assert no_network == []
    found = {p.relative_to(gx_site).parts[0] for p in pages(gx_site)}
    assert found == {"index.html", "expectations", "validations"}
    # Without the rewrite every page loads from CDNs: the test below has something to do.
    for page in pages(gx_site):
        assert any(remote(url) for _, _, url in read(page).refs), page


def test_make_offline_leaves_no_remote_resource(site: Path) -> None:
    all_pages = pages(site)
    assert make_offline(site) == len(all_pages) == 3

    for page in all_pages:
        parsed = read(page)
        assert parsed.refs, page
        for tag, attr, url in parsed.refs:
            assert not remote(url), f"{page}: <{tag} {attr}={url}>"
        for css in parsed.css:
            assert not REMOTE_CSS.search(css), f"{page}: remote url in CSS"

    # Idempotent: nothing left to rewrite, the assets are simply copied again.
    assert make_offline(site) == 0


def test_make_offline_reads_only_pages_changed_since_the_stamps(site: Path) -> None:
    stamps = page_stamps(site)
    assert make_offline(site, unchanged=stamps) == 0  # no page was built since the stamps
    assert (site / "static" / "vendor" / "jquery" / "jquery.min.js").is_file()
    rebuilt, *others = pages(site)
    rebuilt.write_text(rebuilt.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # rebuilt
    assert make_offline(site, unchanged=stamps) == 1
    assert not any(remote(url) for _, _, url in read(rebuilt).refs)
    for page in others:
        assert any(remote(url) for _, _, url in read(page).refs), page


def test_every_local_resource_resolves(site: Path) -> None:
    make_offline(site)
    root = site.resolve()
    vendor = root / "static" / "vendor"
    for page in pages(site):
        targets: set[Path] = set()
        for tag, attr, url in read(page).refs:
            if url.startswith(("#", "data:")):
                continue
            target = (page.parent / unquote(urlsplit(url).path)).resolve()
            assert target.is_file(), f"{page}: <{tag} {attr}={url}> -> {target}"
            assert root in target.parents, f"{page}: {url} leaves the site"
            targets.add(target)
        # Every CDN resource GX links has its local copy on every page.
        assert {t.relative_to(vendor).as_posix() for t in targets if vendor in t.parents} == {
            "bootstrap/bootstrap.min.css",
            "bootstrap/bootstrap.min.js",
            "bootstrap-dark/bootstrap-prefers-dark.min.css",
            "bootstrap-datepicker/bootstrap-datepicker.min.css",
            "bootstrap-datepicker/bootstrap-datepicker.min.js",
            "bootstrap-table/bootstrap-table.min.css",
            "bootstrap-table/bootstrap-table.min.js",
            "bootstrap-table/bootstrap-table-filter-control.min.css",
            "bootstrap-table/bootstrap-table-filter-control.min.js",
            "fontawesome/css/fontawesome.min.css",
            "fontawesome/css/solid.min.css",
            "jquery/jquery.min.js",
            "popper/popper.min.js",
            "vega/vega.min.js",
            "vega-lite/vega-lite.min.js",
            "vega-embed/vega-embed.min.js",
        }, page
        # GX's own logo and favicon, from the site's static/images/.
        images = root / "static" / "images"
        assert {images / "logo-long.png", images / "favicon.ico"} <= targets, page
    # The icon font the solid stylesheet points at, and the licences, travel with the copies.
    assert (vendor / "fontawesome" / "webfonts" / "fa-solid-900.woff2").is_file()
    assert {p.name for p in (vendor / "LICENSES").iterdir()} == {
        p.name for p in (ASSETS_DIR / "LICENSES").iterdir()
    }
    assert (vendor / "README.md").is_file()


def test_content_survives(site: Path) -> None:
    make_offline(site)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert SUITE in index
    assert "expectations/synthetic/labels_suite.html" in index
    assert "fas fa-times text-danger ge-failed-icon" in index  # the failed run in the table
    [validation] = site.glob("validations/synthetic/labels_suite/*/*/*.html")
    assert validation.relative_to(site).as_posix() in index  # the row linking to the run

    text = validation.read_text(encoding="utf-8")
    for expected in (
        "Evaluated Expectations",
        "Unsuccessful Expectations",
        "is a required field",
        "values must belong to this set",
        "values must be greater than or equal to",
        "values must not be null",
        "bird",  # the unexpected label
        "1.7",  # the unexpected score
    ):
        assert expected in text, expected
    assert '<i class="fas fa-times text-danger"' in text
    suite_page = (site / "expectations" / "synthetic" / "labels_suite.html").read_text()
    assert "values must belong to this set" in suite_page


def write_page(site: Path, relative: str, body: str) -> Path:
    page = site / relative
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(f"<html><head>{body}</head><body></body></html>", encoding="utf-8")
    return page


def test_unknown_remote_resources_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "static" / "images").mkdir(parents=True)
    (tmp_path / "static" / "images" / "favicon.ico").write_bytes(b"\0")
    page = write_page(
        tmp_path,
        "a/b/c.html",
        '<script src="https://cdn.example.com/tracker.js"></script>'
        '<link rel="preload" href="//cdn.example.com/x.woff2">'
        '<img src="https://example.com/pixel.gif" alt="x">'
        '<img srcset="https://example.com/big.png 2x">'
        '<iframe src="https://example.com/embed"></iframe>'
        # Bootstrap 5 is not the vendored Bootstrap 4: not mapped, dropped.
        '<link rel="stylesheet" '
        'href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css">'
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js" integrity="sha384-x" '
        'crossorigin="anonymous"></script>'
        "<style>@import url('https://fonts.example.com/a.css'); "
        ".x { background: url(https://example.com/bg.png) }</style>"
        '<div style="background-image: url(&quot;https://example.com/y.png&quot;)"></div>'
        '<link rel="icon" href="../static/images/favicon.ico">'
        '<a href="https://example.com/docs">docs</a>',
    )
    assert make_offline(tmp_path) == 1
    text = page.read_text()
    assert "example.com/docs" in text  # navigation is not a resource load
    assert text.count("example.com") == 1
    assert "bootstrap@5" not in text
    assert '<script src="../../static/vendor/jquery/jquery.min.js"></script>' in text
    assert "integrity" not in text and "crossorigin" not in text
    assert "<iframe></iframe>" in text
    assert 'href="../../static/images/favicon.ico"' in text  # repaired: it was one level short
    assert "@import" not in text and "url(" not in text
