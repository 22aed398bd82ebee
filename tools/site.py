"""Build the course website from the lessons' stored outputs: ``make site`` (Jupyter Book 1).

Nothing is re-executed: the pages show the outputs committed in ``notebooks/`` (nbval keeps them
true). The page list comes from the notebooks present, so a new lesson appears by itself:

- ``index``: the lesson table (number, title, goal, solutions);
- ``setup``: the README's setup steps (from "## Two commands" to "## The lessons");
- one page per lesson, headed by a download link for its ``.ipynb``, Binder / Colab links, an
  nbgitpuller link template for a JupyterHub and the one ``pip install`` line that makes the kit
  available there; its links to other lessons and to its solutions work on the site;
- one page per solutions notebook.

ER diagrams are Mermaid source in the notebooks; the site draws them in the browser with
Mermaid's JavaScript, fetched from the npm registry at build time (``npm pack``, pinned below) and
cached in the git-ignored ``.cache/site/``; nothing of it is committed. The site is written to the
git-ignored ``site/`` folder (``--out`` elsewhere), complete or not at all.

Usage: ``python tools/site.py [--out DIR] [--repository OWNER/NAME] [--branch BRANCH]``.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
OUT = ROOT / "site"
CACHE = ROOT / ".cache" / "site"
MERMAID_VERSION = "11.17.2"  # npm package `mermaid`; its dist/mermaid.min.js is self-contained
PLACEHOLDER_REPOSITORY = "OWNER/ormkit"
SETUP_START, SETUP_END = "## Two commands", "## The lessons"
LESSON_GLOB = "[0-9][0-9]_*.ipynb"

MERMAID_LOADER = """\
// Draw every Mermaid block (an ER diagram's source) as a diagram: an <svg> in the page.
// Mermaid (3 MB) is loaded only by the pages that have a diagram.
(() => {
  const mermaidUrl = new URL("mermaid.min.js", document.currentScript.src).href;
  document.addEventListener("DOMContentLoaded", () => {
    if (!document.querySelector("pre.mermaid")) return;
    const script = document.createElement("script");
    script.src = mermaidUrl;
    script.onload = async () => {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      await window.mermaid.run({ querySelector: "pre.mermaid" });
    };
    document.head.appendChild(script);
  });
})();
"""


class SiteError(Exception):
    """The site cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class Lesson:
    """One lesson notebook, as the site shows it."""

    path: Path
    number: str
    title: str
    goal: str
    solution: Path | None

    @property
    def stem(self) -> str:
        return self.path.stem


def _first_cell(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            return "".join(cell["source"])
    return ""


def lessons(root: Path = NOTEBOOKS) -> list[Lesson]:
    """Return every lesson in ``root`` (``NN_topic.ipynb``), in order, with title and goal."""
    found = []
    for path in sorted(root.glob(LESSON_GLOB)):
        text = _first_cell(path)
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
        title = heading.group(1).strip() if heading else path.stem
        title = re.sub(r"^\d\d\s*·\s*", "", title)
        goal = re.search(r"\*\*Goal:\*\*\s*(.+)", text)
        solution = root / "solutions" / path.name
        found.append(
            Lesson(
                path=path,
                number=path.name[:2],
                title=title,
                goal=goal.group(1).strip() if goal else "",
                solution=solution if solution.is_file() else None,
            )
        )
    if not found:
        raise SiteError(f"no lessons ({LESSON_GLOB}) in {root}")
    return found


def repository_from_git() -> str | None:
    """Return ``owner/name`` of the ``origin`` remote when it is on GitHub, else None."""
    try:
        url = subprocess.run(
            ["git", "-C", str(ROOT), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?$", url)
    return match.group(1) if match else None


def launch_cell(lesson: Lesson, *, repository: str, branch: str, download: str) -> str:
    """The markdown put under a lesson's title: download, launch links and the pip line."""
    path = f"notebooks/{lesson.path.name}"
    name = repository.split("/")[-1]
    git_url = f"https://github.com/{repository}"
    binder = f"https://mybinder.org/v2/gh/{repository}/{branch}?labpath={quote(path)}"
    colab = f"https://colab.research.google.com/github/{repository}/blob/{branch}/{path}"
    puller = (
        "https://HUB/hub/user-redirect/git-pull?repo="
        + quote(git_url, safe="")
        + f"&branch={branch}&urlpath="
        + quote(f"lab/tree/{name}/{path}", safe="")
    )
    pip = f'pip install "ormkit[notebooks] @ git+{git_url}.git@{branch}"'
    return (
        "````{admonition} Run this lesson\n"
        ":class: tip\n"
        f"- {{download}}`Download {lesson.path.name} <{download}>` and open it in Jupyter.\n"
        f"- Open it on [Binder]({binder}) or in [Colab]({colab}).\n"
        f"- On your JupyterHub, this nbgitpuller link (replace `HUB`): `{puller}`\n"
        "\n"
        "Outside a clone of the kit (Colab, a hub), first run this in a cell:\n"
        "\n"
        f"```bash\n%{pip}\n```\n"
        "````"
    )


def _rewrite_links(text: str, *, in_solutions: bool) -> str:
    """Point links at lessons, solutions and the index at the site's pages."""

    def fix(match: re.Match[str]) -> str:
        # MyST resolves links to .ipynb sources to their pages; the lessons' index is index.md.
        if match.group(2).removeprefix("../") == "README.md":
            return f"[{match.group(1)}]({'../' if in_solutions else ''}index.md)"
        return match.group(0)

    return re.sub(r"\[([^\]]*)\]\(([^)\s]+)\)", fix, text)


def _mermaid_as_html(output: dict[str, Any]) -> None:
    """Turn a Mermaid Markdown output (an ``ERDiagram``) into the block the browser draws."""
    markdown = output.get("data", {}).get("text/markdown")
    text = "".join(markdown) if isinstance(markdown, list) else markdown
    match = re.fullmatch(r"```mermaid\n(.*)\n```\s*", text or "", re.DOTALL)
    if match:
        output["data"] = {"text/html": f'<pre class="mermaid">{html.escape(match.group(1))}</pre>'}


def _stage_notebook(source: Path, target: Path, *, header: str | None, in_solutions: bool) -> None:
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            cell["source"] = _rewrite_links(text, in_solutions=in_solutions)
    if header is not None:
        first = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")
        extra = copy.deepcopy(nb["cells"][first])
        extra["source"] = header
        extra.pop("id", None)
        extra["metadata"] = {}
        nb["cells"].insert(first + 1, extra)
    for cell in nb["cells"]:
        cell.pop("id", None)
        for output in cell.get("outputs", []):
            _mermaid_as_html(output)
    nb["nbformat_minor"] = min(nb.get("nbformat_minor", 4), 4)  # cells without ids
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")


def index_page(found: list[Lesson]) -> str:
    """The home page: what the course is, and the lesson table."""
    rows = [
        "# ormkit: async SQLAlchemy 2.1 in Jupyter",
        "",
        "Numbered lessons on SQLAlchemy's asyncio ORM, shown here with the outputs they print "
        "(every lesson is executed in CI and its outputs checked). To run them yourself, see "
        "[Setup](setup.md), or use the download and launch links at the top of each lesson.",
        "",
        "| # | lesson | what it teaches | solutions |",
        "|---|--------|-----------------|-----------|",
    ]
    for lesson in found:
        goal = lesson.goal.replace("|", "\\|")
        solution = f"[solutions](solutions/{lesson.stem}.ipynb)" if lesson.solution else ""
        rows.append(
            f"| {lesson.number} | [{lesson.title}]({lesson.stem}.ipynb) | {goal} | {solution} |"
        )
    return "\n".join(rows) + "\n"


def setup_page(readme: Path = README) -> str:
    """The README's setup steps as a page of their own."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(SETUP_START), text.find(SETUP_END)
    if start < 0 or end < start:
        raise SiteError(f"{readme} has no {SETUP_START!r} ... {SETUP_END!r} section to show")
    body = text[start + len(SETUP_START) : end].strip()
    body = re.sub(r"^#(#+)", r"\1", body, flags=re.MULTILINE)  # one level up under the title
    return f"# Setup\n\n{body}\n"


def fetch_mermaid(cache: Path = CACHE, version: str = MERMAID_VERSION) -> Path:
    """Return ``mermaid.min.js`` of ``version``, fetched once with ``npm pack`` into ``cache``."""
    script = cache / f"mermaid-{version}.min.js"
    if script.is_file():
        return script
    npm = shutil.which("npm")
    if npm is None:
        raise SiteError("npm is needed once to fetch Mermaid (apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ormkit-mermaid-") as tmp:
        done = subprocess.run(
            [npm, "pack", f"mermaid@{version}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            check=False,
        )
        tarballs = list(Path(tmp).glob("mermaid-*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise SiteError(f"npm pack mermaid@{version} failed:\n{done.stderr.strip()}")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile("package/dist/mermaid.min.js")
            if member is None:
                raise SiteError(f"mermaid@{version} has no dist/mermaid.min.js")
            partial = script.with_suffix(".partial")
            partial.write_bytes(member.read())
            partial.replace(script)
    return script


def _config(repository: str, branch: str) -> str:
    return f"""\
title: "ormkit: async SQLAlchemy in Jupyter"
copyright: "the ormkit authors, MIT licence"  # else Jupyter Book 1 prints "© Copyright 2023"
only_build_toc_files: true
execute:
  execute_notebooks: "off"   # the stored outputs, never re-executed
repository:
  url: https://github.com/{repository}
  path_to_book: notebooks
  branch: {branch}
html:
  use_repository_button: false
sphinx:
  config:
    html_static_path: ["_static"]
    html_js_files: ["ormkit-mermaid.js"]
    html_context:
      default_mode: light   # unset, the theme logs "invalid theme mode" to the console
    html_show_sourcelink: false
    html_theme_options:
      use_download_button: false
      search_bar_text: "Search the lessons..."
"""


def _toc(found: list[Lesson]) -> str:
    lines = [
        "format: jb-book",
        "root: index",
        "parts:",
        "- caption: Course",
        "  chapters:",
        "  - file: setup",
    ]
    lines += [f"  - file: {lesson.stem}" for lesson in found]
    solved = [lesson for lesson in found if lesson.solution]
    if solved:
        lines += ["- caption: Solutions", "  chapters:"]
        lines += [f"  - file: solutions/{lesson.stem}" for lesson in solved]
    return "\n".join(lines) + "\n"


def stage(
    source_dir: Path, found: list[Lesson], *, repository: str, branch: str, mermaid: Path
) -> None:
    """Write the book's sources (pages, notebooks with headers, config) into ``source_dir``."""
    (source_dir / "index.md").write_text(index_page(found), encoding="utf-8")
    (source_dir / "setup.md").write_text(setup_page(), encoding="utf-8")
    downloads = source_dir / "_downloads_src"
    downloads.mkdir(parents=True)
    for lesson in found:
        shutil.copyfile(lesson.path, downloads / lesson.path.name)
        header = launch_cell(
            lesson,
            repository=repository,
            branch=branch,
            download=f"_downloads_src/{lesson.path.name}",
        )
        _stage_notebook(
            lesson.path,
            source_dir / lesson.path.name,
            header=header,
            in_solutions=False,
        )
        if lesson.solution:
            _stage_notebook(
                lesson.solution,
                source_dir / "solutions" / lesson.path.name,
                header=None,
                in_solutions=True,
            )
    static = source_dir / "_static"
    static.mkdir()
    shutil.copyfile(mermaid, static / "mermaid.min.js")
    (static / "ormkit-mermaid.js").write_text(MERMAID_LOADER, encoding="utf-8")
    (source_dir / "_config.yml").write_text(_config(repository, branch), encoding="utf-8")
    (source_dir / "_toc.yml").write_text(_toc(found), encoding="utf-8")


def _drop_repeated_scripts(page: Path) -> None:
    """Keep the first of identical inline ``<script>`` blocks in ``page``.

    sphinx-thebe (which Jupyter Book 1 always loads) writes its configuration script twice, so
    every page declared ``const THEBE_JS_URL`` twice and the browser reported a SyntaxError.
    """
    text = page.read_text(encoding="utf-8")
    seen: set[str] = set()

    def once(match: re.Match[str]) -> str:
        if match.group(0) in seen:
            return ""
        seen.add(match.group(0))
        return match.group(0)

    fixed = re.sub(r"<script>[^<]*</script>", once, text)
    if fixed != text:
        page.write_text(fixed, encoding="utf-8")


def build(out: Path = OUT, *, repository: str | None = None, branch: str = "main") -> int:
    """Build the site into ``out`` (replaced whole on success); return the number of pages."""
    repository = repository or repository_from_git() or PLACEHOLDER_REPOSITORY
    found = lessons()
    print(
        f"site: {len(found)} lessons, Mermaid {MERMAID_VERSION}, links to github.com/{repository}",
        flush=True,
    )
    mermaid = fetch_mermaid()
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.is_file():
        raise SiteError("Jupyter Book is not installed: pip install -e '.[site]'")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ormkit-site-") as tmp:
        source_dir = Path(tmp) / "book"
        source_dir.mkdir()
        stage(source_dir, found, repository=repository, branch=branch, mermaid=mermaid)
        done = subprocess.run(
            [str(jupyter_book), "build", str(source_dir), "--warningiserror", "--keep-going", "-q"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
        )
        built = source_dir / "_build" / "html"
        if done.returncode != 0 or not (built / "index.html").is_file():
            raise SiteError(f"jupyter-book build failed:\n{done.stdout[-4000:]}{done.stderr}")
        for leftover in ("_sources", ".buildinfo", ".doctrees"):
            target = built / leftover
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        for page in built.rglob("*.html"):
            _drop_repeated_scripts(page)
        # Replace the old site only once the new one is complete.
        staged = out.with_name(out.name + ".partial")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(built, staged)
    if out.exists():
        shutil.rmtree(out)
    staged.replace(out)
    return len(pages(out))


def pages(out: Path) -> list[Path]:
    """The site's content pages (Sphinx's search and index pages left out)."""
    skip = {"search.html", "genindex.html"}
    return sorted(p for p in out.rglob("*.html") if p.name not in skip and "_static" not in p.parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/site.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the site (site/)")
    parser.add_argument(
        "--repository",
        default=os.environ.get("ORMKIT_SITE_REPOSITORY"),
        help="GitHub OWNER/NAME for the launch links (default: the origin remote, if on GitHub)",
    )
    parser.add_argument("--branch", default="main", help="branch for the launch links (main)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        count = build(args.out, repository=args.repository, branch=args.branch)
    except SiteError as exc:
        print(f"make site: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    print(f"site: {count} pages in {args.out} ({seconds:.1f}s); open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
