"""JupyterLab in a real browser: start it as ``ormkit lab`` does, run a lesson, read the page.

The server is started with :func:`ormkit.lab.lab_command` (the argv ``ormkit lab`` runs) on a
free port with a fresh token, its Jupyter config and runtime folders isolated in ``tmp_path``
(kernelspecs still come from the environment), the kit's database in ``tmp_path``, and a copy of
the lesson so nothing can save into ``notebooks/``. Headless Chromium (Debian's ``chromium``)
is driven by Playwright for Python; its bundled browsers are not used.

Without Chromium or Playwright the test skips; ``ORMKIT_REQUIRE_BROWSER=1`` (set by ``.ci/run``)
turns that skip into a failure. A screenshot is saved to ``artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ormkit.lab import free_port, lab_command, lab_environ, new_token
from ormkit.notebooks import NOTEBOOK_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = (
    "apt-get install -y chromium && .venv/bin/pip install playwright (no `playwright install`)"
)
LESSON = "00_start_here.ipynb"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
SERVER_START_TIMEOUT = 60
RUN_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.slow

# Settings a fresh user would have, minus what makes a test slow or flaky: no autosave (nothing
# is written back), every cell rendered (no virtual scrolling), no news / update pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _unavailable(reason: str) -> None:
    if os.environ.get("ORMKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (required: ORMKIT_REQUIRE_BROWSER=1); install: {INSTALL}")
    pytest.skip(f"{reason}; install: {INSTALL}")


@pytest.fixture(scope="module")
def browser_ready() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is not installed")


@dataclass
class Lab:
    base: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path


def _wait_until_up(lab: Lab, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {lab.process.returncode}:\n{log.read_text()}")
        try:
            url = f"{lab.base}/api/status?token={lab.token}"
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT}s:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and everything it started (kernels), even if it hangs."""
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.terminate()  # SIGTERM: Jupyter shuts its kernels down, then exits
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(children, timeout=5)


def _copy_without_outputs(source: Path, target: Path) -> None:
    # The lesson is committed with outputs: clear them, so everything the test reads on the page
    # was produced by this browser run.
    nb = json.loads(source.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    target.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def lab(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One JupyterLab server for this module's tests, stopped (with its kernels) at the end."""
    tmp_path = tmp_path_factory.mktemp("lab")
    root = tmp_path / "notebooks"
    root.mkdir()
    _copy_without_outputs(NOTEBOOK_DIR / LESSON, root / LESSON)
    config_dir = tmp_path / "jupyter-config"
    for name, settings in LAB_SETTINGS.items():
        path = config_dir / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    env = dict(os.environ)
    env.pop("ORMKIT_DATABASE_URL", None)
    env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        ORMKIT_DATA_DIR=str(tmp_path / "data"),
    )
    port, token = free_port(), new_token()
    env = lab_environ(token, env)
    cmd = lab_command(
        port=port,
        notebook_dir=root,
        open_browser=False,
        extra=["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
    )
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Lab(f"http://127.0.0.1:{port}", token, root, process, log)
    try:
        _wait_until_up(server, log)
        yield server
    finally:
        _stop(process)


def _status(lab: Lab, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", int(lab.base.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        conn.close()


def test_requests_without_the_token_are_refused(lab: Lab) -> None:
    assert _status(lab, "/api/contents")[0] == 403
    assert _status(lab, "/api/contents?token=wrong")[0] == 403
    status, location = _status(lab, "/lab")
    assert status == 302
    assert location.startswith("/login")
    assert _status(lab, f"/api/contents?token={lab.token}")[0] == 200


def _wait_for_idle_kernel(page) -> None:
    """Wait until the status bar reads "Python 3 (ipykernel) | Idle": the kernel is up."""
    page.wait_for_function(
        """() => {
            const status = document.querySelector('.jp-StatusBar-Widget');
            return status && /\\| Idle/.test(status.textContent);
        }""",
        timeout=RUN_TIMEOUT_MS,
    )


def _diagnose(page, lab: Lab, what: str) -> str:
    """Save a screenshot of the failure and return the status bar, dialogs and server log."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "failure.png"
    try:
        page.screenshot(path=str(shot))
        status = page.locator(".jp-StatusBar-Widget").first.inner_text(timeout=2000)
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
    except Exception as exc:
        status, dialogs = f"(page unreadable: {exc})", []
    log = lab.log.read_text(errors="replace")[-3000:]
    return (
        f"{what}; screenshot {shot}\nstatus bar: {status!r}\ndialogs: {dialogs!r}\n"
        f"server log (tail):\n{log}"
    )


def _run_all_cells(page, lab: Lab) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{lab.base}/lab/tree/{LESSON}?token={lab.token}")
    try:
        _wait_for_idle_kernel(page)
    except PlaywrightTimeout:
        pytest.fail(_diagnose(page, lab, "the kernel never became idle"))
    # Run → Run All Cells, as a learner does.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll(
                    '.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                const status = document.querySelector('.jp-StatusBar-Widget');
                const idle = status && /\\| Idle/.test(status.textContent);
                return idle && prompts.length > 0
                    && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
            }""",
            timeout=RUN_TIMEOUT_MS,
        )
    except PlaywrightTimeout:
        pytest.fail(_diagnose(page, lab, "Run All Cells did not finish"))


def test_lesson_runs_in_jupyterlab(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    code_cells = sum(
        cell["cell_type"] == "code" for cell in json.loads((lab.root / LESSON).read_text())["cells"]
    )
    started = time.perf_counter()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _run_all_cells(page, lab)
            prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
            outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
            errors = page.locator(
                '[data-mime-type="application/vnd.jupyter.stderr"]'
            ).all_inner_texts()
            tables = page.locator(".jp-OutputArea-output table.dataframe")
            table_rows = tables.first.locator("tbody tr").count() if tables.count() else 0
            if table_rows:
                tables.first.scroll_into_view_if_needed()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "00_start_here.png"))
        finally:
            browser.close()
    seconds = time.perf_counter() - started
    print(f"browser run of {LESSON}: {seconds:.1f}s")

    assert len(prompts) == code_cells
    counts = [int(re.search(r"\d+", p).group()) for p in prompts]
    assert counts == list(range(1, code_cells + 1)), prompts
    assert errors == [], errors
    assert table_rows == 13  # the sample data's users, rendered as an HTML table
    shown = "\n".join(outputs)
    assert "SELECT users.id" in shown
    assert "User(id=1, name='Alice', age=30)" in shown
    assert "Traceback" not in shown
