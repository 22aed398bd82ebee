"""The course site (``make site``): built from the stored outputs, then read in Chromium.

The site is built once for the module into ``tmp_path`` by ``tools/site.py`` (Jupyter Book 1, the
same command ``make site`` runs; Mermaid comes from the npm registry once, then from
``.cache/site/``) and served on 127.0.0.1. Every page is opened in Debian's headless Chromium
through Playwright with every request off this machine refused: a page must load with no console
error, no failed request and no link to a page or file of the site that does not exist.
Screenshots of the index and two lessons are saved to ``artifacts/site/``.

Without Chromium or Playwright the browser tests skip; ``ORMKIT_REQUIRE_BROWSER=1`` (set by
``.ci/run``) turns that skip into a failure, as in ``tests/test_browser.py``.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, browser_ready  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "site"

pytestmark = pytest.mark.slow


def _site_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ormkit_site", ROOT / "tools" / "site.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ormkit_site", module)
    spec.loader.exec_module(module)
    return module


site = _site_module()


def test_new_lessons_join_the_site_by_themselves(tmp_path: Path) -> None:
    """The page list is the notebooks present: a lesson 12 with no solution is listed too."""
    for name in ("03_queries.ipynb", "solutions/03_queries.ipynb"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes((site.NOTEBOOKS / name).read_bytes())
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": "# 12 · Migrations\n\n**Goal:** evolve | the schema.",
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "12_migrations.ipynb").write_text(json.dumps(nb))
    found = site.lessons(tmp_path)
    assert [(lesson.number, lesson.title) for lesson in found] == [
        ("03", "Queries"),
        ("12", "Migrations"),
    ]
    assert found[1].solution is None
    index = site.index_page(found)
    assert "| 12 | [Migrations](12_migrations.ipynb) | evolve \\| the schema. |  |" in index
    assert "[solutions](solutions/03_queries.ipynb)" in index
    toc = site._toc(found)
    assert toc.splitlines()[6:] == [
        "  - file: 03_queries",
        "  - file: 12_migrations",
        "- caption: Solutions",
        "  chapters:",
        "  - file: solutions/03_queries",
    ]


def test_no_lessons_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(site.SiteError, match="no lessons"):
        site.lessons(tmp_path)


def test_setup_page_is_the_readmes_setup_section() -> None:
    page = site.setup_page()
    assert page.startswith("# Setup\n\nmake lab") or page.startswith("# Setup\n\n```bash\nmake lab")
    assert "## Without cloning: pip" in page
    assert "## With conda" in page
    assert "The lessons" not in page.splitlines()[-1]


def test_launch_links_name_the_lesson() -> None:
    lesson = site.lessons()[3]
    cell = site.launch_cell(lesson, repository="ada/ormkit", branch="dev", download="d.ipynb")
    assert "https://mybinder.org/v2/gh/ada/ormkit/dev?labpath=notebooks/03_queries.ipynb" in cell
    assert (
        "https://colab.research.google.com/github/ada/ormkit/blob/dev/notebooks/03_queries" in cell
    )
    assert (
        "https://HUB/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fada%2Formkit"
        "&branch=dev&urlpath=lab%2Ftree%2Formkit%2Fnotebooks%2F03_queries.ipynb"
    ) in cell
    assert '%pip install "ormkit[notebooks] @ git+https://github.com/ada/ormkit.git@dev"' in cell
    assert "{download}`Download 03_queries.ipynb <d.ipynb>`" in cell


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cached = (site.CACHE / f"mermaid-{site.MERMAID_VERSION}.min.js").is_file()
    if not cached and shutil.which("npm") is None:
        reason = "npm is not installed: the site fetches Mermaid from the npm registry once"
        if os.environ.get("ORMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (required: ORMKIT_REQUIRE_BROWSER=1); apt-get install npm")
        pytest.skip(f"{reason}; apt-get install npm")
    out = tmp_path_factory.mktemp("site") / "site"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "site.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"site built in {time.perf_counter() - started:.1f}s: {done.stdout.strip()}")
    return out


def test_site_has_a_page_per_lesson_and_solution(built: Path) -> None:
    found = site.lessons()
    expected = {"index.html", "setup.html"}
    expected |= {f"{lesson.stem}.html" for lesson in found}
    expected |= {f"solutions/{lesson.stem}.html" for lesson in found if lesson.solution}
    assert {str(p.relative_to(built)) for p in site.pages(built)} == expected
    assert not list(built.rglob("*.partial"))
    # Each lesson's download is the committed notebook, byte for byte.
    for lesson in found:
        downloads = list((built / "_downloads").rglob(lesson.path.name))
        assert len(downloads) == 1, lesson.path.name
        assert downloads[0].read_bytes() == lesson.path.read_bytes()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(built: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(built))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _local_target(built: Path, base: str, page_url: str, href: str) -> Path | None:
    """The file a same-site link points at, or None for a link off the site."""
    url, _ = urldefrag(urljoin(page_url, href))
    if not url.startswith(base):
        return None
    path = built / unquote(urlparse(url).path).lstrip("/")
    return path / "index.html" if path.is_dir() else path


def test_every_page_loads_cleanly_in_chromium(
    browser_ready: None,  # noqa: F811
    built: Path,
    served: str,
) -> None:
    from playwright.sync_api import sync_playwright

    lessons = site.lessons()
    pages = site.pages(built)
    problems: list[str] = []
    broken: list[str] = []
    offsite: list[str] = []
    checked_links = 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})

            def refuse_offsite(route) -> None:  # the site must work offline
                if route.request.url.startswith(served):
                    route.continue_()
                else:
                    offsite.append(route.request.url)
                    route.abort()

            context.route("**/*", refuse_offsite)
            page = context.new_page()
            current = {"url": ""}
            page.on(
                "console",
                lambda m: (
                    problems.append(f"{current['url']}: console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"{current['url']}: {e}"))
            page.on(
                "requestfailed",
                lambda r: problems.append(f"{current['url']}: failed {r.url}"),
            )
            page.on(
                "response",
                lambda r: (
                    problems.append(f"{current['url']}: {r.status} {r.url}")
                    if r.status >= 400
                    else None
                ),
            )
            for path in pages:
                relative = path.relative_to(built).as_posix()
                url = served + relative
                current["url"] = relative
                page.goto(url, wait_until="load")
                hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
                for href in hrefs:
                    target = _local_target(built, served, url, href)
                    if target is None:
                        continue
                    checked_links += 1
                    if not target.is_file():
                        broken.append(f"{relative} -> {href}")
                if relative == "index.html":
                    rows = page.locator("table tbody tr")
                    assert rows.count() == len(lessons)
                    page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)
                elif relative == "01_engine_sessions_models.html":
                    diagram = page.locator("pre.mermaid svg")
                    diagram.wait_for(timeout=20_000)
                    assert diagram.count() == 1
                    text = diagram.text_content() or ""
                    assert "users" in text and "posts" in text
                    diagram.scroll_into_view_if_needed()
                    page.screenshot(path=str(ARTIFACTS / "01_engine_sessions_models.png"))
                elif relative == "04_result_methods.html":
                    table = page.locator(".cell_output table.dataframe").first
                    assert table.locator("th").count() > 0
                    assert table.locator("tbody tr").count() > 0
                elif relative == "07_dataframes.html":
                    plots = page.locator(".cell_output img")
                    assert plots.count() >= 1
                    plots.first.scroll_into_view_if_needed()
                    assert page.evaluate(
                        "img => img.complete && img.naturalWidth > 100",
                        plots.first.element_handle(),
                    )
                    page.screenshot(path=str(ARTIFACTS / "07_dataframes.png"))
                if relative in {f"{lesson.stem}.html" for lesson in lessons}:
                    text = page.inner_text("body")
                    assert "Binder" in text and "Colab" in text, relative
                    assert '%pip install "ormkit[notebooks] @ git+https://github.com/' in text
                    assert "git-pull?repo=" in text
        finally:
            browser.close()
    print(
        f"{len(pages)} pages, {checked_links} internal links checked in "
        f"{time.perf_counter() - started:.1f}s; screenshots in {ARTIFACTS}"
    )
    assert problems == [], "\n".join(problems)
    assert broken == []
    assert offsite == []
    assert checked_links > 10 * len(pages)
    for name in ("index.png", "01_engine_sessions_models.png", "07_dataframes.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
