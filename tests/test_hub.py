"""A real JupyterHub (``make test-hub``): a class of learners, each with a database of their own.

JupyterHub from PyPI and configurable-http-proxy from npm run on 127.0.0.1 with a dummy
authenticator; the test creates Unix users, starts each learner's server through the hub's REST
API (the servers copy the lessons with ``ormkit lessons``, as the README's recipe says), runs lesson
02 in every learner's kernel at once, cell by cell in step, and compares each output with the
stored one (``notebooks/sanitize.cfg`` applied). Lesson 02 inserts rows and shows their ids: two
learners sharing one database get each other's ids (14 comes back as 16), so a match for both
proves that each had a database of their own, which the test then checks directly (the file,
its owner, the process's uid).

Two situations:

- ``LocalProcessSpawner``: the hub runs as root and each server as its learner's Unix user, with
  its own home folder;
- ``SimpleLocalProcessSpawner``: the hub and every server run as one unprivileged Unix user with
  one shared home folder (as with containers that all use one uid and one volume): the kit's
  per-hub-user data folder (``$JUPYTERHUB_USER``) keeps the databases apart; and the same with the
  databases that ``ormkit provision`` made on PostgreSQL, given to each server by the README's
  ``c.Spawner.environment`` snippet; and, as a control, every server pointed at one SQLite file
  (the issue's bug), which the comparison must catch.

Needs root (it creates users), npm and a system Python; ``make test-hub`` sets ORMKIT_TEST_HUB=1,
without which this module is skipped (it takes a minute and builds a venv the first time).
Everything started is stopped by PID; users, folders, hub databases and provisioned databases are
removed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hub
import pytest
from backends import ServerDatabases
from hub import Hub, HubEnv, Kernel, UnixUser, normalize, run_notebook

from ormkit.config import safe_folder_name

REPO = Path(__file__).resolve().parent.parent
LESSON = "02_inserts.ipynb"
REQUIRE_ENV = "ORMKIT_TEST_HUB"

pytestmark = pytest.mark.slow

PROBE = (
    "import os\n"
    "from ormkit import kit\n"
    "print(os.getuid(), os.environ.get('JUPYTERHUB_USER'), kit.resolved.url.render_as_string(), "
    "sep='|')"
)


@pytest.fixture(scope="module")
def hub_env() -> HubEnv:
    if os.environ.get(REQUIRE_ENV) != "1":
        pytest.skip(f"a real JupyterHub: run `make test-hub` (sets {REQUIRE_ENV}=1; needs root)")
    if os.geteuid() != 0:
        pytest.fail("make test-hub needs root: it creates and removes Unix users", pytrace=False)
    if shutil.which("npm") is None:
        pytest.fail("make test-hub needs npm (configurable-http-proxy comes from npm)")
    return hub.prepare()


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A folder every test user can enter (the homes live in it), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ormkit-hub-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def unix_users(workspace: Path) -> Iterator[list[UnixUser]]:
    """Make Unix users on request (``make(label)``); remove each, and check none runs anything."""
    made: list[UnixUser] = []
    tag = secrets.token_hex(3)

    def make(label: str) -> UnixUser:
        user = hub.add_unix_user(f"okt{tag}{label}", workspace / "home" / label)
        made.append(user)
        return user

    yield make  # type: ignore[misc]
    leftovers = {user.name: hub.processes_of(user.uid) for user in made}
    for pids in leftovers.values():
        hub.stop_pids(pids)
    for user in made:
        hub.remove_unix_user(user)
    assert all(subprocess.run(["id", u.name], capture_output=True).returncode for u in made)
    assert {name: pids for name, pids in leftovers.items() if pids} == {}, "processes outlived"


def _stored_lesson() -> dict:
    return json.loads((REPO / "notebooks" / LESSON).read_text())


def _served_lesson(running: Hub, user: str, folder: str) -> dict:
    """The lesson as the learner's server has it (copied into their folder at start)."""
    model = running.api("GET", f"/user/{user}/api/contents/{folder}/{LESSON}?content=1")
    return model["content"]


def _same_lesson(served: dict, stored: dict) -> bool:
    def shape(notebook: dict) -> list:
        return [(src, normalize(out)) for _, src, _, out in hub.code_cells(notebook)]

    return shape(served) == shape(stored)


async def _run_class(
    running: Hub, users: list[str], folders: dict[str, str], expected: dict | None = None
) -> dict:
    """Lesson 02 in every user's kernel at once, cell by cell in step; then each one's probe."""
    stored = _stored_lesson()
    barrier = asyncio.Barrier(len(users))
    kernels = [Kernel(running, user, folders[user]) for user in users]
    results: dict[str, dict] = {}

    async def one(kernel: Kernel) -> None:
        async with kernel:
            mismatches = await run_notebook(kernel, stored, barrier, expected)
            status, outputs = await kernel.execute(PROBE)
            assert status == "ok", outputs
            uid, hub_user, url = outputs[0]["text"].strip().split("|")
            results[kernel.user] = {
                "mismatches": [str(m) for m in mismatches],
                "uid": int(uid),
                "hub_user": hub_user,
                "url": url,
            }

    await asyncio.gather(*(one(kernel) for kernel in kernels))
    return results


def _start_class(running: Hub, users: list[str], folders: dict[str, str]) -> None:
    for user in users:
        running.start_server(user)
    for user in users:
        assert _same_lesson(_served_lesson(running, user, folders[user]), _stored_lesson()), user


def _stop_class(running: Hub, users: list[str]) -> None:
    for user in users:
        running.stop_server(user)
    outlived = running.stop()
    assert outlived == [], f"still running after the hub stopped: {outlived}\n{running.log_tail()}"


def test_local_process_spawner_each_learner_runs_as_themselves_with_their_own_database(
    hub_env: HubEnv, workspace: Path, unix_users
) -> None:
    learners = [unix_users("a"), unix_users("b")]
    names = [user.name for user in learners]
    folders = dict.fromkeys(names, "ormkit-lessons")
    running = Hub(hub_env, "localprocess", workspace / "hub")
    running.start()
    try:
        _start_class(running, names, folders)
        results = asyncio.run(_run_class(running, names, folders))
    finally:
        _stop_class(running, names)
    for user in learners:
        got = results[user.name]
        assert got["mismatches"] == [], "\n".join(got["mismatches"])
        assert got["uid"] == user.uid and got["hub_user"] == user.name
        database = (
            user.home / ".local/share/ormkit/users" / safe_folder_name(user.name) / "ormkit.db"
        )
        assert got["url"] == f"sqlite+aiosqlite:///{database}"
        assert database.stat().st_uid == user.uid
        assert (user.home / "ormkit-lessons" / LESSON).stat().st_uid == user.uid


def _provisioned(
    tmp: Path, names: list[str], owner: UnixUser, server_databases: ServerDatabases
) -> tuple[str, Path]:
    """Provision a PostgreSQL database per learner (README recipe); the file belongs to the hub."""
    from ormkit import cli

    admin = server_databases.url("postgresql")  # skips, or fails under CI, if unreachable
    roster = tmp / "roster.csv"
    roster.write_text("user\n" + "\n".join(names) + "\n")
    out = tmp / "class-databases.json"
    prefix = f"okh{secrets.token_hex(3)}_"
    assert (
        cli.main(
            ["provision", str(roster), "--admin", admin, "--out", str(out), "--prefix", prefix]
        )
        == 0
    )
    os.chown(out, owner.uid, owner.gid)
    return prefix, out


def _reference_run(tmp: Path, url: str) -> dict:
    """Lesson 02 run alone on a fresh PostgreSQL database: what every learner must see there.

    The stored outputs are SQLite's: PostgreSQL shows other SQL (``$1::VARCHAR``) and its
    sequences skip the ids of rolled-back inserts (lesson 10 explains both); ``make test-servers``
    runs every lesson there under nbval-lax.
    """
    from ormkit.notebooks import execute

    copy = tmp / LESSON
    shutil.copy(REPO / "notebooks" / LESSON, copy)
    outcome = execute(copy, database_url=url, write=True)
    assert outcome.ok, outcome.error
    return json.loads(copy.read_text())


def _unprovision(tmp: Path, prefix: str, out: Path, server_databases: ServerDatabases) -> None:
    from ormkit import cli

    admin = server_databases.url("postgresql")
    roster = tmp / "roster.csv"
    assert (
        cli.main(
            [
                "provision",
                str(roster),
                "--admin",
                admin,
                "--out",
                str(out),
                "--prefix",
                prefix,
                "--remove",
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "database",
    ["sqlite", "one-file-for-all", pytest.param("postgresql", marks=pytest.mark.servers)],
)
def test_shared_uid_spawner_still_gives_each_learner_their_own_database(
    hub_env: HubEnv,
    workspace: Path,
    unix_users,
    database: str,
    server_databases: ServerDatabases,
    capsys: pytest.CaptureFixture,
) -> None:
    owner = unix_users("hub")  # the hub and every server run as this one user
    shared_home = workspace / "shared-home"
    shared_home.mkdir()
    os.chown(shared_home, owner.uid, owner.gid)
    names = ["ada", "grace.hopper"]
    # One home for all: each learner copies the lessons into a folder of their own.
    folders = {name: f"ormkit-lessons/{name}" for name in names}
    recipe, provisioned, expected = "", None, None
    if database == "postgresql":
        expected = _reference_run(workspace, server_databases.url("postgresql"))
        provisioned = _provisioned(workspace, names, owner, server_databases)
        capsys.readouterr()
        from ormkit.provision import spawner_snippet

        recipe = spawner_snippet(provisioned[1])
    one_file = shared_home / "one-for-all"
    if database == "one-file-for-all":
        # The control: every server on one SQLite file, as before the per-hub-user data folder.
        # The comparison must catch it, or it would not catch a regression either.
        recipe = f"c.Spawner.environment.update({{'ORMKIT_DATA_DIR': {str(one_file)!r}}})"
    running = Hub(
        hub_env,
        "simple",
        workspace / "hub",
        run_as=owner,
        shared_home=shared_home,
        recipe=recipe,
        lessons_dir='"$HOME/ormkit-lessons/$JUPYTERHUB_USER"',
    )
    try:
        running.start()
        try:
            _start_class(running, names, folders)
            results = asyncio.run(_run_class(running, names, folders, expected))
        finally:
            _stop_class(running, names)
        if database == "one-file-for-all":
            assert {results[name]["url"] for name in names} == {
                f"sqlite+aiosqlite:///{one_file / 'ormkit.db'}"
            }
            # Lesson 02's ids: one learner's inserts take the ids the other's stored outputs
            # show (the "id = 14 came back as id = 16").
            assert any(results[name]["mismatches"] for name in names)
            return
        urls = set()
        for name in names:
            got = results[name]
            assert got["mismatches"] == [], "\n".join(got["mismatches"])
            assert got["uid"] == owner.uid and got["hub_user"] == name
            urls.add(got["url"])
            if provisioned is None:
                folder = shared_home / ".local/share/ormkit/users" / safe_folder_name(name)
                assert got["url"] == f"sqlite+aiosqlite:///{folder / 'ormkit.db'}"
                assert (folder / "ormkit.db").stat().st_uid == owner.uid
            else:
                identifier = provisioned[0] + name.replace(".", "_")
                assert got["url"].endswith(f"@127.0.0.1:5432/{identifier}")
                assert got["url"].split("://")[1].startswith(f"{identifier}:")
        assert len(urls) == len(names)
    finally:
        if provisioned is not None:
            _unprovision(workspace, *provisioned, server_databases)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
