"""ormkit.notebooks: strict about deprecated API in what we teach, never in what Jupyter runs.

Both halves are proved on real kernels, under ``ormkit check`` and under nbval:

- a DeprecationWarning raised by a cell, or attributed to ormkit, SQLAlchemy or pandas, fails;
- a DeprecationWarning raised while the kernel starts (tornado calling
  ``asyncio.get_event_loop()`` on Python 3.12+) does not kill the kernel, even when the caller's
  ``PYTHONWARNINGS`` says ``error::DeprecationWarning``. On Python 3.11, where asyncio does not
  warn yet, ``STARTUP_WARNING`` makes ``get_event_loop()`` warn the way 3.12+ does; the first
  test shows that this reproduces the kernel death the old global rule caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from nbfiles import write_notebook

from ormkit import cli
from ormkit.notebooks import (
    KERNEL_START_ATTEMPTS,
    STRICT_MODULE_PATTERN,
    _without_global_deprecation_errors,
    copy_lessons,
    execute,
    lesson_files,
    start_again_if_it_died,
    start_kernel,
    strict_kernels,
)

REPO = Path(__file__).resolve().parent.parent

# A sitecustomize that makes asyncio.get_event_loop() warn as it does on Python 3.12+ when no loop
# runs: the warning lands on its caller (tornado, ipykernel), while the kernel starts.
STARTUP_WARNING = """\
import asyncio
import warnings

_get_event_loop = asyncio.get_event_loop


def get_event_loop():
    warnings.warn("There is no current event loop", DeprecationWarning, stacklevel=2)
    return _get_event_loop()


asyncio.get_event_loop = asyncio.events.get_event_loop = get_event_loop
"""


@pytest.fixture
def startup_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kernels started from now on see a DeprecationWarning from Jupyter's code at start-up."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(STARTUP_WARNING)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    )
    return folder


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORMKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ORMKIT_DATABASE_URL", raising=False)
    return tmp_path / "data"


TEACHING_MODULES = [
    "__main__",
    "ormkit",
    "ormkit.crud",
    "sqlalchemy.orm.session",
    "pandas.core.frame",
]
JUPYTER_MODULES = [
    "tornado.ioloop",
    "ipykernel.kernelapp",
    "jupyter_client.session",
    "zmq",
    "pandasx",
]


@pytest.mark.parametrize("module", TEACHING_MODULES)
def test_the_strict_rule_covers_lesson_code_and_the_libraries_we_teach(module: str) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning, module=STRICT_MODULE_PATTERN)
        with pytest.raises(DeprecationWarning):
            warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module=module)


@pytest.mark.parametrize("module", JUPYTER_MODULES)
def test_the_strict_rule_leaves_jupyters_own_code_alone(module: str) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", category=DeprecationWarning, module=STRICT_MODULE_PATTERN)
        warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module=module)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("error::DeprecationWarning", ""),
        ("default,error::DeprecationWarning", "default"),
        ("error", ""),
        ("error::Warning,ignore::UserWarning", "ignore::UserWarning"),
        ("error::DeprecationWarning:mymodule", "error::DeprecationWarning:mymodule"),
        ("error::ResourceWarning", "error::ResourceWarning"),
    ],
)
def test_a_global_deprecation_error_is_not_passed_to_kernels(given: str, kept: str) -> None:
    assert _without_global_deprecation_errors(given) == kept


def test_strict_kernels_env_is_private_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONWARNINGS", "error::DeprecationWarning")
    with strict_kernels() as env:
        folder = Path(env["IPYTHONDIR"])
        startup = list((folder / "profile_default" / "startup").iterdir())
        assert [p.name for p in startup] == ["00-ormkit-strict-deprecations.py"]
        assert env["PYTHONWARNINGS"] == ""
    assert not folder.exists()


@pytest.mark.slow
def test_the_old_global_rule_kills_the_kernel_at_startup(
    tmp_path: Path, startup_warning: Path, data_dir: Path
) -> None:
    # Proof that the start-up warning above is what killed kernels on Python 3.12+.
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"}
    # It dies (Python 3.11) or hangs without answering (3.13): either way no lesson can run.
    with pytest.raises(RuntimeError, match=r"Kernel died|Kernel didn.t respond"):
        km, kc = start_new_kernel(kernel_name="python3", env=env, startup_timeout=30)
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.slow
def test_execute_fails_on_deprecated_calls_in_lesson_code(tmp_path: Path, data_dir: Path) -> None:
    cells = {
        "a cell": 'import warnings\nwarnings.warn("old API", DeprecationWarning)',
        "SQLAlchemy": (
            "from sqlalchemy import create_engine, text\n"
            'engine = create_engine("sqlite://")\n'
            "try:\n"
            "    with engine.connect() as conn:\n"
            '        conn.execute(text("SELECT 1")).tuples()  # deprecated in 2.1\n'
            "finally:\n"
            "    engine.dispose()"
        ),
        "ormkit": (
            "import warnings\n"
            'warnings.warn_explicit("old", DeprecationWarning, "crud.py", 1, module="ormkit.crud")'
        ),
        "pandas": (
            "import warnings\n"
            'warnings.warn_explicit("old", DeprecationWarning, "frame.py", 1, '
            'module="pandas.core.frame")'
        ),
    }
    for name, source in cells.items():
        path = write_notebook(
            tmp_path / f"{name}.ipynb", "print('before')", source, "print('after')"
        )
        outcome = execute(path)
        assert not outcome.ok, name
        assert outcome.exception is not None and outcome.exception.startswith(
            ("DeprecationWarning", "SADeprecationWarning")
        ), (name, outcome.exception)
        assert outcome.cell == 1, name


@pytest.mark.slow
def test_execute_survives_jupyters_startup_deprecations(
    tmp_path: Path, startup_warning: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The caller's environment says error::DeprecationWarning, as the old conftest did.
    monkeypatch.setenv("PYTHONWARNINGS", "error::DeprecationWarning")
    path = write_notebook(
        tmp_path / "ok.ipynb",
        "import asyncio, warnings\n"
        "asyncio.get_event_loop  # the patched one: the start-up warning above really happened\n"
        'warnings.warn_explicit("x", DeprecationWarning, "ioloop.py", 1, module="tornado.ioloop")',
        "from ormkit import reset\nawait reset()",
        'print("alive")',
    )
    outcome = execute(path)
    assert outcome.ok, outcome.error


@pytest.mark.slow
def test_ormkit_check_is_strict_in_lessons_only(
    tmp_path: Path, startup_warning: Path, data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    good = write_notebook(tmp_path / "01_good.ipynb", "from ormkit import reset\nawait reset()")
    bad = write_notebook(
        tmp_path / "02_bad.ipynb", 'import warnings\nwarnings.warn("old", DeprecationWarning)'
    )
    assert cli.main(["check", str(good)]) == 0
    assert cli.main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "=> DeprecationWarning: old" in err


@pytest.mark.slow
def test_nbval_is_strict_in_lessons_only(tmp_path: Path, startup_warning: Path) -> None:
    # The nbval half: the repository's notebooks/conftest.py, beside two small notebooks.
    shutil.copy(REPO / "notebooks" / "conftest.py", tmp_path / "conftest.py")
    write_notebook(
        tmp_path / "good.ipynb", "from ormkit import reset\nawait reset()", "print(1 + 1)"
    )
    write_notebook(
        tmp_path / "bad.ipynb", 'import warnings\nwarnings.warn("old", DeprecationWarning)'
    )
    env = {**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"}
    env.pop("ORMKIT_DATABASE_URL", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q", "-rA",
         "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:asyncio", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    out = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout)
    assert run.returncode == 1, out + run.stderr
    assert "PASSED good.ipynb::Cell 0" in out and "PASSED good.ipynb::Cell 1" in out, out
    assert "FAILED bad.ipynb::Cell 0" in out, out
    assert "DeprecationWarning: old" in out


def test_copy_lessons_keeps_the_learners_work(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "solutions").mkdir(parents=True)
    for name in ["00_a.ipynb", "01_b.ipynb", "solutions/01_b.ipynb", "README.md"]:
        (source / name).write_text(name)
    (source / "conftest.py").write_text("not for learners")
    dest = tmp_path / "mine"
    first = copy_lessons(dest, source=source)
    assert sorted(map(str, first.copied)) == sorted(map(str, lesson_files(source)))
    (dest / "00_a.ipynb").write_text("my edits")
    (dest / "01_b.ipynb").unlink()
    again = copy_lessons(dest, source=source)
    assert [str(p) for p in again.copied] == ["01_b.ipynb"]
    assert (dest / "00_a.ipynb").read_text() == "my edits"
    assert not (dest / "conftest.py").exists()
    assert not list(dest.rglob("*.partial"))


# ------------------------------------------------------------------ outputs on every platform


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(REPO / "notebooks" / "sanitize.cfg")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def _sanitize(text: str) -> str:
    for regex, replace in _sanitizers():
        text = regex.sub(replace, text)
    return text


def _stored_outputs() -> list[tuple[str, int, str, str]]:
    """(notebook, cell index, cell source, output text) of every stored text output."""
    import nbformat

    from ormkit.notebooks import discover

    found = []
    for path in discover():
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []):
                texts = [output.get("text", "")]
                texts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
                found += [(path.name, index, cell.source, str(t)) for t in texts if t]
    return found


def test_every_lesson_shows_the_learners_versions_first() -> None:
    import nbformat

    from ormkit.notebooks import discover

    for path in discover():
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "print(versions())" in first.source, path.name
        assert "nbval-ignore-output" not in first.metadata.get("tags", []), path.name


def test_the_sanitizer_touches_only_the_versions_line_and_the_echo_cell() -> None:
    touched = [
        (name, index)
        for name, index, source, text in _stored_outputs()
        if _sanitize(text) != text and "print(versions())" not in source
    ]
    # Lesson 01 shows echo=True's log once; only its time stamps and compile times are masked.
    (echo,) = [
        (name, index)
        for name, index, source, _ in _stored_outputs()
        if "echo=True" in source and name.startswith("01_")
    ]
    assert touched == [echo]


def test_the_echo_sanitizer_masks_only_times_in_sqlalchemys_log_lines() -> None:
    line = "2026-11-29 12:44:51,618 INFO sqlalchemy.engine.Engine [generated in 0.00077s] (20, 22)"
    assert _sanitize(line) == (
        "YYYY-MM-DD hh:mm:ss,mmm INFO sqlalchemy.engine.Engine [generated in N.NNNNNs] (20, 22)"
    )
    # the same words outside SQLAlchemy's log lines are compared as they are
    for text in ["2026-11-29 12:44:51,618 created", "[generated in 0.00077s] (20, 22)"]:
        assert _sanitize(text) == text
    # a cached statement would be a real change (the cell makes a new engine): not masked
    cached = "2026-11-29 12:44:51,618 INFO sqlalchemy.engine.Engine [cached since 3.2s ago] (1,)"
    assert _sanitize(cached) == (
        "YYYY-MM-DD hh:mm:ss,mmm INFO sqlalchemy.engine.Engine [cached since 3.2s ago] (1,)"
    )


def test_the_versions_line_matches_on_other_pythons_and_sqlites(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import platform
    import sqlite3

    from ormkit.teaching import versions

    here = _sanitize(versions())
    assert "X.Y.Z" in here and "SQLAlchemy" in here
    for python, sqlite in [("3.11.2", "3.40.1"), ("3.14.0rc3", "3.53.4"), ("3.13.5+", "3.46.1")]:
        monkeypatch.setattr(platform, "python_version", lambda v=python: v)
        monkeypatch.setattr(sqlite3, "sqlite_version", sqlite)
        assert _sanitize(versions()) == here
    stored = {text for _, _, source, text in _stored_outputs() if "print(versions())" in source}
    assert {_sanitize(text).strip() for text in stored} == {here}


def test_regen_refuses_to_edit_an_installed_copy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from ormkit import notebooks

    monkeypatch.setattr(notebooks, "PACKAGED_LESSONS", notebooks.NOTEBOOK_DIR)
    with pytest.raises(SystemExit) as exit_:
        notebooks.main([])
    assert exit_.value.code == 2
    assert "installed copy" in capsys.readouterr().err


class _FlakyClient:
    """Stands in for nbclient's client: its first kernels die with ``errors``, in order."""

    def __init__(self, *errors: str) -> None:
        self.errors = list(errors)
        self.managers = 0
        self.km: object | None = None

    def create_kernel_manager(self) -> object:
        self.managers += 1
        return object()

    async def async_start_new_kernel(self, **kwargs: object) -> None:
        assert self.km is not None

    async def async_start_new_kernel_client(self) -> None:
        if self.errors:
            self.km = None  # as nbclient does after shutting the dead kernel down
            raise RuntimeError(self.errors.pop(0))


def test_a_kernel_that_died_at_start_is_started_again_a_few_times() -> None:
    died = "Kernel died before replying to kernel_info"
    client = _FlakyClient(*[died] * (KERNEL_START_ATTEMPTS - 1))
    asyncio.run(start_kernel(client))
    assert client.managers == KERNEL_START_ATTEMPTS and client.km is not None

    client = _FlakyClient(*[died] * KERNEL_START_ATTEMPTS)
    with pytest.raises(RuntimeError, match="died before replying"):
        asyncio.run(start_kernel(client))
    assert client.managers == KERNEL_START_ATTEMPTS


def test_other_kernel_start_failures_are_not_retried() -> None:
    client = _FlakyClient("Kernel info received message content has no 'language_info' key")
    with pytest.raises(RuntimeError, match="language_info"):
        asyncio.run(start_kernel(client))
    assert client.managers == 1


def test_nbvals_kernels_are_started_again_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import nbval.kernel

    died = RuntimeError("Kernel died before replying to kernel_info")
    outcomes: list[Any] = [died, died, ("km", "kc")]
    calls: list[dict[str, Any]] = []

    def flaky(**kwargs: Any) -> Any:
        calls.append(kwargs)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    assert start_again_if_it_died(flaky, kernel_name="python3") == ("km", "kc")
    assert calls == [{"kernel_name": "python3"}] * 3
    with pytest.raises(RuntimeError, match="Kernel didn't respond"):
        start_again_if_it_died(lambda: (_ for _ in ()).throw(RuntimeError("Kernel didn't respond")))

    # notebooks/conftest.py puts it in nbval's place while pytest runs, and puts nbval's back.
    monkeypatch.setattr(nbval.kernel, "start_new_kernel", flaky)
    path = REPO / "notebooks" / "conftest.py"
    spec = importlib.util.spec_from_file_location("lessons_conftest", path)
    assert spec is not None and spec.loader is not None
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    monkeypatch.setattr(conftest, "_stack", contextlib.ExitStack())
    monkeypatch.setenv("ORMKIT_DATABASE_URL", "sqlite+aiosqlite://")  # no scratch folder needed
    outcomes[:] = [died, ("km", "kc")]
    conftest.pytest_configure(None)
    try:
        assert nbval.kernel.start_new_kernel is not flaky
        assert nbval.kernel.start_new_kernel(startup_timeout=60) == ("km", "kc")
    finally:
        conftest.pytest_unconfigure(None)
    assert nbval.kernel.start_new_kernel is flaky


@pytest.mark.slow
@pytest.mark.parametrize("attempts", [1, KERNEL_START_ATTEMPTS])
def test_a_kernel_whose_port_was_taken_meanwhile_starts_on_new_ports(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, attempts: int
) -> None:
    # What another kernel starting at the same moment does (jupyter/jupyter_client#487): it binds
    # a port this kernel was told to use. With one attempt, the run fails as it did in CI.
    from nbclient import NotebookClient

    monkeypatch.setattr("ormkit.notebooks.KERNEL_START_ATTEMPTS", attempts)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    managers: list[Any] = []
    create = NotebookClient.create_kernel_manager

    def first_on_a_taken_port(self: NotebookClient) -> Any:
        km = create(self)
        if not managers:
            km.cache_ports = False  # else jupyter_client hands out ports of its own choosing
            km.shell_port = taken.getsockname()[1]
        managers.append(km)
        return km

    monkeypatch.setattr(NotebookClient, "create_kernel_manager", first_on_a_taken_port)
    try:
        outcome = execute(write_notebook(tmp_path / "ok.ipynb", "print(6 * 7)"))
    finally:
        taken.close()
    if attempts == 1:
        assert not outcome.ok and "Kernel died before replying" in (outcome.error or "")
        assert len(managers) == 1
    else:
        assert outcome.ok, outcome.error
        assert len(managers) == 2
