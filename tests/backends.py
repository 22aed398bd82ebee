"""Database servers for the tests and notebooks: find them, lend out a throwaway database.

Each test run (each xdist worker) creates its own database on every reachable server, named
``ormkit_test_<random>``, and drops it at the end; nothing else on the server is touched. A server
that cannot be reached (connection refused, timed out, unknown host: see :func:`is_unreachable`)
is skipped with the command that starts it, unless ``ORMKIT_REQUIRE_BACKENDS`` (a comma list:
``postgresql,mysql``; ``.ci/run`` sets it) names it: then unreachable is a failure. Any other
error (a wrong user, password or database, a missing driver, bad SQL) is always a failure, with
the real error: a server that answers is never skipped.

Where the servers are: ``ORMKIT_TEST_POSTGRESQL_URL`` / ``ORMKIT_TEST_MYSQL_URL``, else the local
defaults below. The URL's database is only used to connect for ``CREATE DATABASE``.

Run as a script, it runs the lesson notebooks under ``nbval-lax`` on each reachable server, each
server in a database of its own (``make test-servers``)::

    python tests/backends.py notebooks [extra pytest arguments]
"""

from __future__ import annotations

import asyncio
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

REQUIRE_ENV = "ORMKIT_REQUIRE_BACKENDS"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Server:
    name: str  # the backend id used in test ids and ORMKIT_REQUIRE_BACKENDS
    label: str
    env: str
    default_url: str
    start: str  # how to start one, shown in the skip reason

    @property
    def admin_url(self) -> URL:
        return make_url(os.environ.get(self.env) or self.default_url)

    @property
    def required(self) -> bool:
        wanted = os.environ.get(REQUIRE_ENV, "")
        return self.name in {part.strip().lower() for part in wanted.split(",")}


SERVERS: dict[str, Server] = {
    "postgresql": Server(
        name="postgresql",
        label="PostgreSQL",
        env="ORMKIT_TEST_POSTGRESQL_URL",
        default_url="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        start=(
            "docker run -d --name ormkit-postgres -p 5432:5432 "
            "-e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16 "
            "(or: sudo systemctl start postgresql / brew services start postgresql@16); "
            "or point ORMKIT_TEST_POSTGRESQL_URL at a server"
        ),
    ),
    "mysql": Server(
        name="mysql",
        label="MariaDB/MySQL",
        env="ORMKIT_TEST_MYSQL_URL",
        default_url="mysql+asyncmy://root@127.0.0.1:3306/test",
        start=(
            "docker run -d --name ormkit-mariadb -p 3306:3306 "
            "-e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 -e MARIADB_DATABASE=test mariadb:11 "
            "(or: sudo systemctl start mariadb / brew services start mariadb); "
            "or point ORMKIT_TEST_MYSQL_URL at a server"
        ),
    ),
}


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on a fresh event loop in a thread of its own.

    The fixtures that create and drop databases are synchronous and session-wide; a thread keeps
    their event loop apart from whatever loop pytest-asyncio is running.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _connect_args(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql":
        return {"timeout": CONNECT_TIMEOUT_S}
    return {"connect_timeout": CONNECT_TIMEOUT_S}


async def _admin(server: Server, statements: list[str]) -> None:
    url = server.admin_url
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", connect_args=_connect_args(url))
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


UNREACHABLE = "not reachable at"


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means that nothing answered: refused, timed out, unknown host, no socket.

    Those are ``OSError``s (``ConnectionRefusedError``, ``TimeoutError``, ``socket.gaierror``),
    raised as they are (asyncpg) or as the cause of the driver's own error (asyncmy's 2003
    "Can't connect"). A server that answered with an error (authentication, unknown database)
    did not raise one, nor does a missing driver or bad SQL; nor, here, does a TLS failure.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return False
        if isinstance(current, OSError):
            return True
        current = current.__cause__ or current.__context__
    return False


def unreachable_reason(server: Server, error: BaseException) -> str:
    shown = server.admin_url.render_as_string(hide_password=True)
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return (
        f"{server.label} {UNREACHABLE} {shown} ({type(error).__name__}: {first_line[:200]}); "
        f"start one with: {server.start}"
    )


def broken_reason(server: Server, error: BaseException) -> str:
    """The failure for a server that answered but cannot lend a database: the whole error."""
    shown = server.admin_url.render_as_string(hide_password=True)
    return (
        f"{server.label} at {shown} answered, but no test database could be created there "
        f"(not a connection failure, so not skipped):\n{type(error).__name__}: {error}"
    )


def create_database(server: Server) -> URL:
    """Create a fresh, empty database on ``server`` and return its URL (raises if unreachable)."""
    name = f"ormkit_test_{secrets.token_hex(4)}"
    if server.name == "postgresql":
        # Collation "C" sorts by code point, as SQLite and MySQL's utf8mb4_bin do, so ORDER BY
        # name gives the same order on every backend, whatever the server's locale.
        statement = f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'"
    else:
        statement = f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    run(_admin(server, [statement]))
    return server.admin_url.set(database=name)


def drop_database(server: Server, url: URL) -> None:
    """Drop the database that :func:`create_database` made (and nothing else)."""
    name = url.database or ""
    if not name.startswith("ormkit_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a database the tests created")
    if server.name == "postgresql":
        statement = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    else:
        statement = f"DROP DATABASE IF EXISTS {name}"
    run(_admin(server, [statement]))


class ServerDatabases:
    """One database per server for a test session, created on first use, dropped by ``close``."""

    def __init__(self) -> None:
        self._urls: dict[str, URL] = {}
        self._unreachable: dict[str, str] = {}
        self._broken: dict[str, str] = {}

    def url(self, name: str) -> str:
        """Return the session's database URL on server ``name``; skip (or fail) if unreachable.

        Any other error fails, in every test that asks, with the error itself.
        """
        import pytest

        server = SERVERS[name]
        if name not in self._urls and name not in self._unreachable and name not in self._broken:
            try:
                self._urls[name] = create_database(server)
            except Exception as exc:
                if is_unreachable(exc):
                    self._unreachable[name] = unreachable_reason(server, exc)
                else:
                    self._broken[name] = broken_reason(server, exc)
        if name in self._broken:
            pytest.fail(self._broken[name], pytrace=False)
        if name in self._unreachable:
            reason = self._unreachable[name]
            if server.required:
                pytest.fail(f"{reason} [required by {REQUIRE_ENV}]", pytrace=False)
            pytest.skip(reason)
        return self._urls[name].render_as_string(hide_password=False)

    def close(self) -> None:
        for name, url in self._urls.items():
            drop_database(SERVERS[name], url)
        self._urls.clear()


def _notebooks(extra: list[str]) -> int:
    """Run the notebooks under nbval-lax on each reachable server, in a database of its own.

    The servers run side by side (one pytest each, notebooks in sequence: they share the
    server's database); each one's output is printed when it finishes.
    """
    failed = 0
    summary: list[str] = []
    runs: list[tuple[Server, URL, subprocess.Popen[str], float]] = []
    command = [
        sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
        "-p", "no:cacheprovider", "-p", "no:randomly", "-q", *(extra or ["notebooks"]),
    ]  # fmt: skip
    for server in SERVERS.values():
        try:
            url = create_database(server)
        except Exception as exc:
            if not is_unreachable(exc):
                print(f"FAIL {broken_reason(server, exc)}", file=sys.stderr)
                failed += 1
                summary.append(f"{server.label}: FAILED (no test database)")
                continue
            reason = unreachable_reason(server, exc)
            if server.required:
                print(f"FAIL {reason} [required by {REQUIRE_ENV}]", file=sys.stderr)
                failed += 1
            else:
                print(f"SKIP {reason}", file=sys.stderr)
            summary.append(f"{server.label}: not reachable")
            continue
        env = {**os.environ, "ORMKIT_DATABASE_URL": url.render_as_string(hide_password=False)}
        print(f"== {server.label}: {' '.join(command[2:])} (database {url.database})", flush=True)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        runs.append((server, url, process, time.perf_counter()))
    for server, url, process, started in runs:
        try:
            output, _ = process.communicate()
        finally:
            drop_database(server, url)
        seconds = time.perf_counter() - started
        print(f"== {server.label} ({url.database}):\n{output}", flush=True)
        ok = process.returncode == 0
        summary.append(f"{server.label}: {'passed' if ok else 'FAILED'} in {seconds:.0f}s")
        failed += not ok
    print("\n".join(summary))
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "notebooks":
        print(__doc__)
        return 2
    return _notebooks(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
