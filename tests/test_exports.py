"""The public surface: ``ormkit.__all__`` is sorted, complete and importable (httpx's guard)."""

from __future__ import annotations

import importlib
import inspect
import types

import ormkit
from ormkit import exercises as exercises_module

# Modules whose public functions and classes are the kit's API, re-exported from ``ormkit``.
API_MODULES = ["config", "crud", "db", "frames", "models", "results", "sql", "validation"]

# Public names in those modules that are deliberately NOT re-exported, and why. A new public
# function must be added to ``ormkit/__init__.py`` or here, so the choice is always explicit.
NOT_EXPORTED = {
    "config.check_url": "resolve_url is the entry point; it calls check_url",
    "config.default_data_dir": "default_url is the public form",
    "config.data_dir": "for ormkit info; default_url is the public form",
    "config.DataDir": "the result type of config.data_dir",
    "config.safe_folder_name": "a detail of the per-hub-user data folder",
    "config.is_sqlite": "internal dialect helper",
    "config.sqlite_file": "internal dialect helper",
    "db.describe": "display_url(engine.url) is the public form",
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
    assert public == set(ormkit.__all__)
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
