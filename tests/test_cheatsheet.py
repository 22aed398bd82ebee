"""The seed cheat sheet's code runs unchanged, its definitions replaced by ``from ormkit import``.

The seed's snippets that *use* the kit are embedded below verbatim (the shared folder may not sit
beside the repository); when ``../shared/SEED-cheatsheet.txt`` is there, a test checks that every
embedded line still appears in it. Without it that test skips; ``ORMKIT_REQUIRE_CHEATSHEET=1``
(set by ``.ci/run``, whose clones have ``../shared`` beside them) turns that skip into a failure.
The snippets run in a fresh interpreter against the kit's *default* database (a SQLite file in a
temporary ``ORMKIT_DATA_DIR``), as a learner's notebook would.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ormkit
from ormkit.config import DATA_DIR_ENV_VAR, ENV_VAR

REPO = Path(__file__).resolve().parent.parent
SEED = REPO.parent / "shared" / "SEED-cheatsheet.txt"
REQUIRE_ENV = "ORMKIT_REQUIRE_CHEATSHEET"

# The seed's definitions (engine, async_session, Base, User, Post, the CRUD coroutines) become:
KIT_IMPORTS = """\
from sqlalchemy import select

from ormkit import (
    Base, Post, User, add_many_users, add_user, async_session, create_all_tables, delete_user,
    engine, get_user_posts, update_user_name,
)
"""

# The seed's query snippets, verbatim, in order (each after its comment line in the seed).
QUERY_SNIPPETS = {
    "all users": ("result = await session.execute(select(User))\nusers = result.scalars().all()\n"),
    "first by name": (
        'result = await session.execute(select(User).where(User.name == ""))\n'
        "user = result.scalars().first()\n"
    ),
    "exactly one": (
        "result = await session.execute(select(User).where(User.id == 1))\n"
        "user = result.scalar_one()\n"
    ),
    # In the seed this line stands alone (its `result` is a fresh one, as scalar_one() above
    # consumed the previous result), so it runs after re-executing the statement before it.
    "one or none": "user = result.scalar_one_or_none()\n",
}

# The seed's definitions, by signature: the kit's coroutines are called the same way.
SEED_SIGNATURES = {
    "create_all_tables": "async def create_all_tables():",
    "add_user": "async def add_user(name: str, age: int):",
    "add_many_users": "async def add_many_users(users: list[tuple[str, int]]):",
    "update_user_name": "async def update_user_name(user_id: int, new_name: str):",
    "delete_user": "async def delete_user(user_id: int):",
    "get_user_posts": "async def get_user_posts(user_id: int):",
}

# The seed's to_dict, verbatim (its last section).
SEED_TO_DICT = """\
def to_dict(self):
    return {
        "id": self.id,
        "name": self.name,
        "age": self.age
    }
"""

# The seed's result-method table names these.
SEED_RESULT_METHODS = [
    ".scalars().all()", ".scalars().first()", ".scalar_one_or_none()", ".scalar_one()",
    "result.all()",
]  # fmt: skip

# Calls in the seed's call forms, then a look at the outcome. Runs as one notebook would.
PROGRAM = """
import ast, asyncio, inspect, json, sys

snippets = json.loads(sys.argv[1])


async def run(source, ns):
    code = compile(source, "<cheatsheet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(code, ns)
    if inspect.iscoroutine(outcome):
        await outcome


async def main():
    ns = {}
    await run(snippets["imports"], ns)
    await run("from ormkit import reset\\nawait reset()", ns)
    await run("await create_all_tables()", ns)  # the seed's first call; harmless when present
    out = {"database": ns["engine"].url.database}
    session = ns["async_session"]()
    ns["session"] = session
    await run(snippets["all users"], ns)
    out["all users"] = [u.to_dict() for u in ns["users"]]
    await run(snippets["first by name"], ns)
    out["first by name"] = ns["user"]
    await run(snippets["exactly one"], ns)
    out["exactly one"] = ns["user"].to_dict()
    await run(snippets["exactly one"].splitlines()[0] + "\\n" + snippets["one or none"], ns)
    out["one or none"] = ns["user"].to_dict()
    await session.close()

    await run('await add_user("Ada", 36)', ns)
    await run('await add_many_users([("Linus", 28), ("Grace", 85)])', ns)
    await run('await update_user_name(1, "Alicia")', ns)
    await run("await delete_user(6)", ns)
    await run("posts = await get_user_posts(1)", ns)
    out["posts of 1"] = [p.title for p in ns["posts"]]
    await run(snippets["to_dict"], ns)  # the seed's own to_dict, applied to the kit's User
    async with ns["async_session"]() as session:
        users = (await session.execute(ns["select"](ns["User"]).order_by(ns["User"].id))).scalars()
        users = users.all()
    out["after"] = [u.to_dict() for u in users]
    out["seed to_dict agrees"] = all(ns["to_dict"](u) == u.to_dict() for u in users)
    await ns["engine"].dispose()
    print(json.dumps(out))


asyncio.run(main())
"""


def seed_text(seed: Path = SEED) -> str:
    """The shared cheat sheet; skip without it, or fail if ``ORMKIT_REQUIRE_CHEATSHEET=1``."""
    if not seed.is_file():
        reason = f"{seed} is not beside this checkout"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} (required: {REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    return seed.read_text()


def seed_outcome(seed: Path) -> tuple[str, str]:
    """What :func:`seed_text` does: ``("read", text)``, ``("skip", why)`` or ``("fail", why)``."""
    try:
        return "read", seed_text(seed)
    except pytest.skip.Exception as exc:
        return "skip", str(exc)
    except pytest.fail.Exception as exc:
        return "fail", str(exc)


def test_missing_cheatsheet_skips_unless_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "shared" / "SEED-cheatsheet.txt"
    reason = f"{missing} is not beside this checkout"
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    assert seed_outcome(missing) == ("skip", reason)
    monkeypatch.setenv(REQUIRE_ENV, "1")
    assert seed_outcome(missing) == ("fail", f"{reason} (required: {REQUIRE_ENV}=1)")
    missing.parent.mkdir()
    missing.write_text("the seed")
    assert seed_outcome(missing) == ("read", "the seed")


def test_embedded_snippets_are_the_seeds() -> None:
    seed = seed_text()
    seed_lines = {line.strip() for line in seed.splitlines()}
    for snippet in [*QUERY_SNIPPETS.values(), SEED_TO_DICT, *SEED_SIGNATURES.values()]:
        for line in snippet.splitlines():
            assert line.strip() in seed_lines, line
    for method in SEED_RESULT_METHODS:
        assert f"`{method}`" in seed, method


def test_kit_keeps_the_seeds_call_forms() -> None:
    for name, seed_def in SEED_SIGNATURES.items():
        (seed_fn,) = ast.parse(seed_def + " pass").body
        assert isinstance(seed_fn, ast.AsyncFunctionDef)
        seed_names = [arg.arg for arg in seed_fn.args.args]
        kit = getattr(ormkit, name)
        assert inspect.iscoroutinefunction(kit), name
        positional = [
            p
            for p in inspect.signature(kit).parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        assert [p.name for p in positional[: len(seed_names)]] == seed_names, name
        # Anything the kit adds is optional, so the seed's calls still work.
        assert all(p.default is not p.empty for p in positional[len(seed_names) :]), name


async def test_seed_result_methods_are_in_the_table() -> None:
    from ormkit.results import METHODS

    for method in SEED_RESULT_METHODS:
        name = method.removeprefix("result").removeprefix(".")
        assert name in METHODS, method


def test_cheatsheet_code_runs_unchanged_against_the_default_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, DATA_DIR_ENV_VAR)}
    env[DATA_DIR_ENV_VAR] = str(tmp_path / "data")
    snippets = {**QUERY_SNIPPETS, "imports": KIT_IMPORTS, "to_dict": SEED_TO_DICT}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(PROGRAM), json.dumps(snippets)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = json.loads(done.stdout)
    assert out["database"] == str(tmp_path / "data" / "ormkit.db")
    assert (tmp_path / "data" / "ormkit.db").is_file()
    alice = {"id": 1, "name": "Alice", "age": 30}
    assert len(out["all users"]) == len(ormkit.sample_data.USERS)
    assert out["all users"][0] == alice
    assert out["first by name"] is None  # nobody is called ""
    assert out["exactly one"] == alice
    assert out["one or none"] == alice
    assert out["posts of 1"] == [t for _, uid, t in ormkit.sample_data.POSTS if uid == 1]
    after = {u["id"]: u for u in out["after"]}
    assert after[1] == {"id": 1, "name": "Alicia", "age": 30}
    assert 6 not in after
    assert [after[i]["name"] for i in (14, 15, 16)] == ["Ada", "Linus", "Grace"]
    assert out["seed to_dict agrees"] is True
