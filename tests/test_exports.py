"""The public surface: ``ormkit.__all__`` is sorted, complete and importable (httpx's guard)."""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import pkgutil
import re
import sys
import textwrap
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

import ormkit
from ormkit import db
from ormkit import exercises as exercises_module
from ormkit.config import DATA_DIR_ENV_VAR, ENV_VAR, default_url

# Modules whose public functions and classes are the kit's API, re-exported from ``ormkit``.
API_MODULES = ["config", "crud", "db", "frames", "models", "results", "sql", "validation"]

# Public names in those modules that are deliberately NOT re-exported, and why. A new public
# function must be added to ``ormkit/__init__.py`` or here, so the choice is always explicit.
NOT_EXPORTED = {
    "config.check_url": "resolve_url is the entry point; it calls check_url",
    "config.default_data_dir": "default_url is the public form",
    "config.resolve": "for the CLI and the kit object; resolve_url is the public form",
    "config.Resolved": "the result type of config.resolve",
    "config.scratch_data_dir": "for ormkit check, make regen and nbval",
    "config.environ": "sets variables for the kernels those start",
    "db.row_counts": "for ormkit info / reset and the playground",
    "frames.check_query": "read_frame's guard; NotAQueryError is the public part",
    "config.data_dir": "for ormkit info; default_url is the public form",
    "config.DataDir": "the result type of config.data_dir",
    "config.safe_folder_name": "a detail of the per-hub-user data folder",
    "config.is_sqlite": "internal dialect helper",
    "config.sqlite_file": "internal dialect helper",
    "results.describe_value": "formatting detail of result_methods",
    "results.describe_error": "formatting detail of result_methods",
    "results.outcome": "formatting detail of result_methods",
    "sql.format_params": "formatting detail of show_sql",
    "validation.check_text": "the CRUD coroutines validate; these are their building blocks",
    "validation.check_name": "as above",
    "validation.check_title": "as above",
    "validation.check_age": "as above",
    "validation.check_id": "as above",
    "validation.check_count": "as above",
    "validation.check_user_rows": "as above",
    "validation.check_lookup_text": "as above (for look-ups by name)",
}

# The cheat sheet's names, which must keep working as `from ormkit import ...`.
SEED_NAMES = {
    "engine", "async_session", "Base", "User", "Post", "create_all_tables", "add_user",
    "add_many_users", "update_user_name", "delete_user", "get_user_posts",
}  # fmt: skip


def _public_definitions(module: types.ModuleType) -> list[str]:
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


def test_all_is_sorted_and_unique() -> None:
    assert ormkit.__all__ == sorted(ormkit.__all__)
    assert len(ormkit.__all__) == len(set(ormkit.__all__))


def test_every_name_in_all_is_importable() -> None:
    for name in ormkit.__all__:
        assert hasattr(ormkit, name), name
        exec(f"from ormkit import {name}", {})


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from ormkit import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(ormkit.__all__)


def test_all_is_complete() -> None:
    missing = []
    for module_name in API_MODULES:
        module = importlib.import_module(f"ormkit.{module_name}")
        for name in _public_definitions(module):
            if name not in ormkit.__all__ and f"{module_name}.{name}" not in NOT_EXPORTED:
                missing.append(f"{module_name}.{name}")
    assert missing == [], "export these from ormkit/__init__.py or list them in NOT_EXPORTED"


def test_not_exported_list_is_not_stale() -> None:
    for dotted in NOT_EXPORTED:
        module_name, name = dotted.split(".")
        module = importlib.import_module(f"ormkit.{module_name}")
        assert name in _public_definitions(module), f"{dotted} no longer exists"
        assert name not in ormkit.__all__, f"{dotted} is exported after all"


def test_init_only_re_exports() -> None:
    public = {
        name
        for name, obj in vars(ormkit).items()
        if not name.startswith("_") and not isinstance(obj, types.ModuleType)
    }
    # `engine` is looked up at each access (a module __getattr__), so it follows use_database().
    assert public | {"engine"} == set(ormkit.__all__)
    assert ormkit.engine is ormkit.kit.engine
    for name in ormkit.__all__:
        obj = getattr(ormkit, name)
        origin = getattr(obj, "__module__", None)
        if origin is not None and (inspect.isfunction(obj) or inspect.isclass(obj)):
            assert origin.startswith("ormkit."), name


def test_seed_names_are_exported_with_the_right_kinds() -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

    assert set(ormkit.__all__) >= SEED_NAMES
    assert isinstance(ormkit.engine, AsyncEngine)
    assert isinstance(ormkit.async_session, async_sessionmaker)
    assert ormkit.async_session.kw["expire_on_commit"] is False
    for name in ("create_all_tables", "add_user", "add_many_users", "update_user_name",
                 "delete_user", "get_user_posts"):  # fmt: skip
        assert inspect.iscoroutinefunction(getattr(ormkit, name)), name


def test_exercises_package_all_is_sorted_and_complete() -> None:
    names = exercises_module.__all__
    assert names == sorted(names)
    assert set(_public_definitions(exercises_module)) <= set(names)
    for name in names:
        assert hasattr(exercises_module, name)


def test_version_matches_the_package_metadata() -> None:
    from importlib.metadata import version

    assert ormkit.__version__ == version("ormkit")


def test_every_exported_function_documents_an_example() -> None:
    # STYLE §9: docstrings teach; each public function shows a real call.
    lacking = [
        name
        for name in ormkit.__all__
        if inspect.isfunction(getattr(ormkit, name))
        and "Example:" not in (inspect.getdoc(getattr(ormkit, name)) or "")
    ]
    assert lacking == []


# ------------------------------------------------------------------ docstring examples, run
# STYLE §9: "an `Example:` block with real `await` calls that a test executes". Every `Example:`
# block in the package runs here, each against a fresh database (a new SQLite file as the kit's
# default, reset to the sample data), and what it prints or displays must equal the lines the
# docstring shows, character for character.

# Examples that cannot run here, and why. Keep this short: an example that is merely wrong is
# fixed, not listed.
EXAMPLE_SKIPS = {
    "ormkit.cli": "shell commands ($ ormkit ...), not Python; tests/test_cli.py runs them",
}
# Examples that start from an empty database (no tables), not from the sample data, and why.
EXAMPLE_STARTS_EMPTY = {
    "ormkit.db.seed": "its example creates the tables and seeds them itself",
}
# The one normalisation: default_url()'s example shows the data folder of a checkout in
# /home/me/ormkit; the test's own data folder stands in for it.
EXAMPLE_DATA_DIR = "/home/me/ormkit/data"


@dataclass
class _Step:
    source: str
    want: list[str] = field(default_factory=list)


def _documented() -> dict[str, object]:
    """Every module, public function, class and method of ormkit whose docstring has an Example."""
    modules = [ormkit] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(ormkit.__path__, "ormkit.")
        if not info.name.rsplit(".", 1)[1].startswith("_")
    ]
    found: dict[str, object] = {}

    def add(name: str, obj: object) -> None:
        if re.search(r"^\s*Example:\s*$", inspect.getdoc(obj) or "", re.M):
            found[name] = obj

    for module in modules:
        add(module.__name__, module)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                add(f"{module.__name__}.{name}", obj)
            elif inspect.isclass(obj):
                add(f"{module.__name__}.{name}", obj)
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        add(f"{module.__name__}.{name}.{attr}", member)
    return found


DOCUMENTED = _documented()


def _example_lines(doc: str) -> list[str]:
    """The lines of the docstring's ``Example:`` block, dedented."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Example:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip("\n").splitlines()


def _parse_example(doc: str) -> list[_Step]:
    """``>>>`` starts a statement, ``...`` continues it; other lines are its expected output."""
    steps: list[_Step] = []
    for line in _example_lines(doc):
        if line.startswith(">>> "):
            steps.append(_Step(line[4:]))
        elif line.startswith("... ") or line == "...":
            assert steps, f"continuation line before any >>>: {line!r}"
            steps[-1].source += "\n" + line[4:]
        elif line.strip():
            assert steps, f"not a >>> line: {line!r}"
            steps[-1].want.append(line.rstrip())
    return steps


def test_every_exported_function_with_an_example_is_run() -> None:
    # The examples run below cover the names in ormkit.__all__ (and more: every public docstring).
    for name in ormkit.__all__:
        obj = getattr(ormkit, name)
        if inspect.isfunction(obj):
            assert f"{obj.__module__}.{name}" in DOCUMENTED, name


def test_example_skips_are_not_stale() -> None:
    for name in [*EXAMPLE_SKIPS, *EXAMPLE_STARTS_EMPTY]:
        assert name in DOCUMENTED, f"{name} has no Example block any more"


@pytest.fixture
async def example_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    """A fresh default database (a SQLite file in its own ORMKIT_DATA_DIR) as the kit's database."""
    data = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV_VAR, str(data))
    monkeypatch.delenv(ENV_VAR, raising=False)
    async with db.kit.using(default_url()) as engine:  # the kit's default, in this test's folder
        assert engine.url.database == str(data / "ormkit.db")
        yield data


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
async def test_docstring_example_runs(
    name: str, example_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name in EXAMPLE_SKIPS:
        pytest.skip(EXAMPLE_SKIPS[name])
    obj = DOCUMENTED[name]
    steps = _parse_example(inspect.getdoc(obj) or "")
    assert steps, f"{name}: the Example block has no >>> line"
    if name not in EXAMPLE_STARTS_EMPTY:
        await db.reset()
    module = obj if inspect.ismodule(obj) else sys.modules[obj.__module__]
    namespace = {
        **vars(module),
        **{export: getattr(ormkit, export) for export in ormkit.__all__},
        "ormkit": ormkit,
        "select": select,
        "text": text,
        "engine": db.engine,  # the kit's current engine: this test's database
        "async_session": db.async_session,
        "__name__": "__example__",
    }

    # Each step compiles in "single" mode, as the REPL and doctest do: an expression's value is
    # displayed (its repr), also inside a block.
    def display(value: object) -> None:
        if value is not None:
            print(repr(value))

    monkeypatch.setattr(sys, "displayhook", display)
    try:
        for step in steps:
            code = compile(
                step.source + "\n", f"<{name} example>", "single",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            )  # fmt: skip
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                outcome = eval(code, namespace)
                if inspect.iscoroutine(outcome):
                    await outcome
            got = out.getvalue().replace(str(example_db), EXAMPLE_DATA_DIR)
            assert [line.rstrip() for line in got.splitlines()] == step.want, (
                f"{name}: example step\n{step.source}\nshowed {got!r}, its docstring shows "
                f"{step.want!r}"
            )
    finally:
        # Engines the example made (directly, behind a sessionmaker, or installed as the kit's
        # with use_database) are disposed here; disposing the fixture's too is harmless.
        for value in [*namespace.values(), db.kit.engine]:
            if isinstance(value, async_sessionmaker):
                value = value.kw.get("bind")
            if isinstance(value, AsyncEngine):
                await value.dispose()
