"""The ``ormkit`` command: ``lab``, ``check``, ``reset``, ``playground``, ``student``, ``kernel``,
``info``.

Every subcommand has ``--help``. A bad argument is a usage error (exit 2); a bad ``--database``
URL (or ``$ORMKIT_DATABASE_URL``) is a one-line error, also exit 2; a database that cannot be
reached is a one-line error with exit 1. Nothing here prints a traceback for a user mistake.

Example:
    $ ormkit lab --port 8890
    $ ormkit check notebooks/00_start_here.ipynb
    $ ormkit reset --database postgresql+asyncpg://postgres@127.0.0.1/test --yes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from . import config

PROG = "ormkit"
LAB_HOST = "127.0.0.1"
LAB_DEFAULT_PORT = 8888
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------
# shared helpers


def _notebook_dir() -> Path:
    from .notebooks import NOTEBOOK_DIR

    return NOTEBOOK_DIR


NOTEBOOKS_EXTRA = "pip install 'ormkit[notebooks]'"
# What each subcommand imports beyond the base install (the [notebooks] extra brings them).
_NEEDS = {
    "lab": ("jupyterlab", "ipykernel"),
    "check": ("nbclient", "nbformat", "ipykernel"),
    "student": ("nbformat",),
    "playground": ("IPython",),
    "kernel": ("ipykernel",),
}


def require_notebooks_extra(command: str) -> None:
    """Refuse ``command`` in one line, naming the extra, when its packages are not installed."""
    import importlib.util

    missing = [m for m in _NEEDS.get(command, ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise CommandError(
            f"needs the notebooks extra ({', '.join(missing)} not installed); "
            f"install it with: {NOTEBOOKS_EXTRA}"
        )


def _database(url: str | None) -> Any:
    """Resolve ``--database`` (else the environment, else the default); ConfigError -> exit 2."""
    try:
        return config.check_url(url, source="--database") if url else config.resolve_url()
    except config.ConfigError as exc:
        raise CommandError(str(exc), code=2) from None


def _is_default(url: Any) -> bool:
    return url == config.default_url()


def _source(url_arg: str | None) -> str:
    if url_arg:
        return "--database"
    if os.environ.get(config.ENV_VAR):
        return f"${config.ENV_VAR}"
    return "default"


def _run(coro: Any) -> Any:
    """Run a coroutine, turning database errors into one-line :class:`CommandError`."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db import DatabaseLocationError

    try:
        return asyncio.run(coro)
    except DatabaseLocationError as exc:
        raise CommandError(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        message = str(exc).split("\n")[0]
        raise CommandError(f"cannot use the database: {type(exc).__name__}: {message}") from None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------
# ormkit lab


def free_port(host: str = LAB_HOST) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_is_free(port: int, host: str = LAB_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def new_token() -> str:
    """Return a fresh random token for JupyterLab (never empty)."""
    return secrets.token_hex(24)


def lab_url(port: int, token: str, path: str = "lab") -> str:
    return f"http://{LAB_HOST}:{port}/{path}?token={token}"


def write_token_config(token: str) -> Path:
    """Write ``c.IdentityProvider.token = token`` to a new file only this user can read."""
    folder = Path(tempfile.mkdtemp(prefix="ormkit-lab-"))  # created with mode 0700
    path = folder / "ormkit_lab_token.py"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"c.IdentityProvider.token = {token!r}\n")
    return path


def lab_command(
    *,
    port: int,
    token: str,
    notebook_dir: Path | None = None,
    open_browser: bool = False,
    allow_root: bool | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """Return the argv that starts JupyterLab on ``notebook_dir``: 127.0.0.1, token auth on.

    The token is required and never empty, so authentication cannot be switched off from here.
    It goes into a private config file (mode 0600, in a fresh 0700 folder) passed with
    ``--config``, not onto the command line, where any local user could read it with ``ps``;
    that file is loaded after the user's own Jupyter config, so a ``token = ''`` there cannot
    switch it off. ``port_retries=0`` makes a busy port an error instead of a silent move to
    another port (the printed URL would be wrong). ``allow_root`` defaults to "running as root".
    """
    if not token or not token.strip():
        raise ValueError("JupyterLab needs a non-empty token; token authentication stays on")
    root = notebook_dir if notebook_dir is not None else _notebook_dir()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--config={write_token_config(token)}",
        f"--ServerApp.ip={LAB_HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=" + ("True" if open_browser else "False"),
    ]
    if allow_root if allow_root is not None else _is_root():
        cmd.append("--allow-root")
    cmd.extend(extra)
    return cmd


def cmd_lab(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.database:
        url = _database(args.database)
        env[config.ENV_VAR] = url.render_as_string(hide_password=False)
    if args.port is not None:
        port = args.port
        if not _port_is_free(port):
            raise CommandError(f"port {port} on {LAB_HOST} is in use; choose another with --port")
    else:
        port = (
            next(
                (p for p in range(LAB_DEFAULT_PORT, LAB_DEFAULT_PORT + 50) if _port_is_free(p)),
                None,
            )
            or free_port()
        )
    folder = _lessons_folder(args.dir)
    token = new_token()
    open_browser = args.browser if args.browser is not None else _has_display()
    cmd = lab_command(port=port, token=token, notebook_dir=folder, open_browser=open_browser)
    database = config.display_url(config.resolve_url(env.get(config.ENV_VAR) or None))
    print(f"ormkit lab: notebooks in {folder}")
    print(f"ormkit lab: database {database}")
    print("ormkit lab: open this URL (the token is your password; do not share it):")
    print(f"    {lab_url(port, token)}", flush=True)
    if os.name != "posix":  # pragma: no cover - Windows has no exec that keeps the console
        import subprocess

        return subprocess.call(cmd, env=env)
    # Replace this process so Ctrl-C goes straight to Jupyter (its own shutdown prompt).
    os.execve(sys.executable, cmd, env)
    return 0  # not reached


def default_lessons_home() -> Path:
    """Where an installed kit puts the learner's copy of the lessons: ``~/ormkit-lessons``."""
    return Path.home() / "ormkit-lessons"


def _lessons_folder(given: str | None) -> Path:
    """The folder JupyterLab opens: a source checkout's notebooks/, else the learner's copy.

    An installed kit's lessons sit in site-packages, which a learner must never edit (an upgrade
    would wipe their work, and it may be read-only): they are copied to a folder the user owns,
    ``--dir`` or ``~/ormkit-lessons``, and files already there are kept as they are.
    """
    from .notebooks import copy_lessons, lessons_are_packaged

    if given is None and not lessons_are_packaged():
        return _notebook_dir()
    folder = Path(given).expanduser() if given else default_lessons_home()
    try:
        report = copy_lessons(folder.resolve())
    except OSError as exc:
        raise CommandError(f"cannot copy the lessons to {folder}: {exc.strerror or exc}") from None
    if report.copied:
        kept = f" (kept {len(report.kept)} you already have)" if report.kept else ""
        print(f"ormkit lab: copied {len(report.copied)} lesson file(s) to {folder}{kept}")
    return folder.resolve()


# --------------------------------------------------------------------------------------------
# ormkit check


class _TextBar:
    """A minimal progress bar on stderr, for when tqdm is not installed."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.tty = sys.stderr.isatty()

    def describe(self, label: str) -> None:
        if self.tty:
            width = 24
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (width - filled)
            sys.stderr.write(f"\r[{bar}] {self.done}/{self.total} {label[:40]:40}")
            sys.stderr.flush()

    def write(self, line: str) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()
        print(line, flush=True)

    def update(self) -> None:
        self.done += 1

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()


class _TqdmBar:
    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = tqdm(total=total, unit="nb", file=sys.stderr, disable=None, leave=False)

    def describe(self, label: str) -> None:
        self.bar.set_description_str(label[:40])

    def write(self, line: str) -> None:
        self._tqdm.write(line, file=sys.stdout)

    def update(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _progress(total: int) -> Any:
    try:
        return _TqdmBar(total)
    except ImportError:
        return _TextBar(total)


@contextlib.contextmanager
def _scratch_data_dir(enabled: bool) -> Iterator[str | None]:
    """Point the kernels' default database at a temporary folder (not the learner's data)."""
    if not enabled:
        yield None
        return
    saved = os.environ.get(config.DATA_DIR_ENV_VAR)
    with tempfile.TemporaryDirectory(prefix="ormkit-check-") as folder:
        os.environ[config.DATA_DIR_ENV_VAR] = folder
        try:
            yield folder
        finally:
            if saved is None:
                os.environ.pop(config.DATA_DIR_ENV_VAR, None)
            else:
                os.environ[config.DATA_DIR_ENV_VAR] = saved


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _failure_report(outcome: Any) -> str:
    """The failing notebook, cell number and source, the exception, then the traceback's tail."""
    where = _shown_path(outcome.path)
    cell = getattr(outcome, "cell", None)
    lines = [f"--- {where}" + (f", cell {cell + 1}" if cell is not None else "") + " ---"]
    source = getattr(outcome, "source", None)
    if source:
        shown = source.splitlines()
        lines += [f"    {line}" for line in shown[:15]]
        if len(shown) > 15:
            lines.append(f"    ... ({len(shown) - 15} more lines)")
    lines.append(_ANSI.sub("", outcome.error or "").rstrip())
    exception = getattr(outcome, "exception", None)
    if exception:
        lines.append(f"=> {_ANSI.sub('', exception)}")
    return "\n".join(lines)


def _is_notebook(path: Path) -> bool:
    import nbformat

    try:
        nbformat.read(path, as_version=4)
    except Exception:  # NotJSONError, a missing "cells", bad encoding: all "not a notebook"
        return False
    return True


def cmd_check(args: argparse.Namespace) -> int:
    from .notebooks import discover, execute

    url = None
    target = None
    if args.database:
        target = _database(args.database)
        url = target.render_as_string(hide_password=False)
    elif os.environ.get(config.ENV_VAR):
        target = _database(None)  # a bad $ORMKIT_DATABASE_URL is a one-line error, not 20 failures
    paths = [Path(p) for p in args.notebooks] or discover()
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise CommandError(f"no such notebook: {missing[0]}", code=2)
    not_notebooks = [p for p in paths if not _is_notebook(p)]
    if not_notebooks:
        raise CommandError(f"not a Jupyter notebook: {not_notebooks[0]}", code=2)
    if target is not None and _needs_confirmation(target):
        # Every lesson starts with reset(): running them drops and reloads the kit's tables there.
        _confirm(
            f"Every lesson resets the tables users and posts in {config.display_url(target)}. "
            "Continue?",
            yes=args.yes,
            what="run the lessons on that database",
        )
    if not paths:
        raise CommandError(f"no notebooks found in {_notebook_dir()}")
    shown_db = (
        config.display_url(url)
        if url
        else (
            config.display_url(os.environ[config.ENV_VAR])
            if os.environ.get(config.ENV_VAR)
            else "a temporary SQLite file (your data/ is left alone)"
        )
    )
    print(f"Checking {len(paths)} notebook(s) on {shown_db}", flush=True)
    failures = []
    started = time.perf_counter()
    bar = _progress(len(paths))
    try:
        with _scratch_data_dir(url is None and not os.environ.get(config.ENV_VAR)):
            for path in paths:
                bar.describe(path.name)
                outcome = execute(path, database_url=url, write=False, timeout=args.timeout)
                bar.update()
                status = "ok" if outcome.ok else "FAILED"
                bar.write(f"  {status:6} {outcome.seconds:6.1f}s  {_shown_path(path)}")
                if not outcome.ok:
                    failures.append(outcome)
    finally:
        bar.close()
    total = time.perf_counter() - started
    passed = len(paths) - len(failures)
    print(f"{len(paths)} notebook(s): {passed} passed, {len(failures)} failed in {total:.1f}s")
    for outcome in failures:
        print(f"\n{_failure_report(outcome)}", file=sys.stderr)
    return 1 if failures else 0


# --------------------------------------------------------------------------------------------
# ormkit reset


def _confirm(question: str, *, yes: bool, what: str) -> None:
    """Ask ``question`` on the terminal; refuse without a terminal unless ``yes``."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(
            f"refusing to {what} without confirmation: no terminal to ask on; add --yes to confirm"
        )
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("aborted; nothing was changed")


def _needs_confirmation(url: Any) -> bool:
    # The kit's own default file and throwaway in-memory databases hold nothing precious.
    return not _is_default(url) and not (config.is_sqlite(url) and config.sqlite_file(url) is None)


async def _reset(url: Any) -> tuple[int, int]:
    from sqlalchemy import func, select

    from .db import make_engine, reset
    from .models import Post, User

    engine = make_engine(url)
    try:
        await reset(engine)
        async with engine.connect() as conn:
            users = await conn.scalar(select(func.count()).select_from(User))
            posts = await conn.scalar(select(func.count()).select_from(Post))
    finally:
        await engine.dispose()
    return users, posts


def cmd_reset(args: argparse.Namespace) -> int:
    url = _database(args.database)
    shown = config.display_url(url)
    if _needs_confirmation(url):
        _confirm(
            f"Drop the tables users and posts in {shown} and reload the sample data?",
            yes=args.yes,
            what=f"reset {shown}",
        )
    users, posts = _run(_reset(url))
    print(f"reset {shown}: {users} users, {posts} posts")
    return 0


# --------------------------------------------------------------------------------------------
# ormkit playground


def playground_url() -> Any:
    """The playground's own SQLite file, beside (never instead of) the lessons' database."""
    return config.URL.create(
        "sqlite+aiosqlite", database=str(config.default_data_dir() / "playground.db")
    )


def cmd_playground(args: argparse.Namespace) -> int:
    from . import playground

    if args.database:
        url = _database(args.database)
    else:
        url = playground_url()
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        return playground.run(url, fresh=args.database is None)
    except CommandError:
        raise
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        from .db import DatabaseLocationError

        if isinstance(exc, DatabaseLocationError | SQLAlchemyError | OSError):
            raise CommandError(f"cannot use the database: {str(exc).splitlines()[0]}") from None
        raise


# --------------------------------------------------------------------------------------------
# ormkit student


def cmd_student(args: argparse.Namespace) -> int:
    from .student import StudentCopyError, write_student_copies

    try:
        written = write_student_copies(Path(args.out_dir), force=args.force)
    except StudentCopyError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot write to {args.out_dir}: {exc.strerror or exc}") from None
    for item in written:
        print(
            f"  {_shown_path(item.path)}: {item.removed} solution cell(s) removed, "
            f"{item.cleared} exercise output(s) cleared"
        )
    print(f"wrote {len(written)} student notebook(s) to {args.out_dir}")
    return 0


# --------------------------------------------------------------------------------------------
# ormkit kernel

KERNEL_NAME = "ormkit"
KERNEL_DISPLAY_NAME = "Python (ormkit)"


def cmd_kernel(args: argparse.Namespace) -> int:
    from ipykernel.kernelspec import install

    try:
        where = install(
            user=not args.sys_prefix,
            prefix=sys.prefix if args.sys_prefix else None,
            kernel_name=KERNEL_NAME,
            display_name=KERNEL_DISPLAY_NAME,
        )
    except OSError as exc:
        raise CommandError(f"cannot install the kernel: {exc.strerror or exc}") from None
    print(f"installed the Jupyter kernel {KERNEL_NAME!r} ({KERNEL_DISPLAY_NAME}) in {where}")
    print(f"it runs {sys.executable}; pick {KERNEL_DISPLAY_NAME!r} in JupyterLab or VS Code")
    return 0


# --------------------------------------------------------------------------------------------
# ormkit info


async def _row_counts(url: Any) -> dict[str, int] | None:
    from sqlalchemy import func, inspect, select

    from .db import make_engine
    from .models import Base

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            existing = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            tables = [t for t in Base.metadata.sorted_tables if t.name in existing]
            if not tables:
                return None
            return {t.name: await conn.scalar(select(func.count()).select_from(t)) for t in tables}
    finally:
        await engine.dispose()


def cmd_info(args: argparse.Namespace) -> int:
    from . import __version__

    url = _database(args.database)
    rows = [
        ("ormkit", __version__),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
    ]
    for dist, label in [
        ("sqlalchemy", "SQLAlchemy"),
        ("pandas", "pandas"),
        ("aiosqlite", "aiosqlite"),
        ("asyncpg", "asyncpg"),
        ("asyncmy", "asyncmy"),
        ("jupyterlab", "JupyterLab"),
        ("ipykernel", "ipykernel"),
    ]:
        rows.append((label, _version(dist) or "not installed"))
    rows.append(("database", f"{config.display_url(url)}  ({_source(args.database)})"))
    chosen = config.data_dir()
    rows.append(("data folder", f"{chosen.path}  (rule: {chosen.rule})"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    path = config.sqlite_file(url)
    if path is not None and not path.exists():
        print(f"{'tables':<{width}}  database file not created yet (run: ormkit reset)")
        return 0
    counts = _run(_row_counts(url))
    if counts is None:
        print(f"{'tables':<{width}}  tables not created yet (run: ormkit reset)")
    else:
        shown = ", ".join(f"{name} {count}" for name, count in counts.items())
        print(f"{'rows':<{width}}  {shown}")
    return 0


# --------------------------------------------------------------------------------------------
# argument parsing


def _add_database(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help=f"{what} (default: $ORMKIT_DATABASE_URL, else the kit's SQLite file); "
        "e.g. postgresql+asyncpg://postgres@127.0.0.1/test",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classroom tools for the ormkit SQLAlchemy asyncio ORM teaching kit.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_own_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "lab",
        help="start JupyterLab on the lessons (127.0.0.1, token auth)",
        description="Start JupyterLab on the lessons, on 127.0.0.1 with a fresh random token, "
        "and print the URL to open. Token authentication is always on.",
    )
    p.add_argument("--port", type=_port, help="port to listen on (default: 8888 or next free)")
    p.add_argument(
        "--dir",
        metavar="FOLDER",
        help="copy the lessons into FOLDER (files already there are kept) and open it "
        "(default for an installed kit: ~/ormkit-lessons; in a git checkout: its notebooks/)",
    )
    _add_database(p, "database URL for the notebooks' kernels")
    p.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="open a web browser (default: only when there is a display)",
    )
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser(
        "check",
        help="run every lesson and solution headless; report times and failures",
        description="Execute every lesson and solution notebook top to bottom in a fresh kernel "
        "(outputs are not written back). Exit status 1 if any notebook fails.",
    )
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="only these notebooks")
    _add_database(p, "database to run the notebooks against")
    p.add_argument(
        "--timeout", type=_positive_int, default=300, help="seconds per cell (default: 300)"
    )
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask before running the lessons (each resets the tables) on a database "
        "other than a scratch one",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "reset",
        help="drop and recreate the tables and reload the sample data",
        description="Drop and recreate the kit's tables and reload the sample data. Asks for "
        "confirmation before touching a database other than the kit's default file.",
    )
    _add_database(p, "database to reset")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser(
        "playground",
        help="an IPython shell with top-level await, the models and the sample data",
        description="Start IPython with top-level await, the models, a session factory, the "
        "CRUD coroutines and the sample data, in a playground database of its own "
        "(data/playground.db, reset at each start).",
    )
    _add_database(
        p,
        "use this database instead of the playground's own (kept as is; tables and "
        "sample data are only added when it is empty)",
    )
    p.set_defaults(func=cmd_playground)

    p = sub.add_parser(
        "student",
        help="write student copies of the lessons (no solutions)",
        description="Write copies of the lessons with cells tagged 'solution' removed and the "
        "outputs of cells tagged 'exercise' cleared.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the copies into")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    p.set_defaults(func=cmd_student)

    p = sub.add_parser(
        "kernel",
        help=f"install the Jupyter kernel {KERNEL_NAME!r} for this Python (VS Code, a hub)",
        description=f"Install a Jupyter kernel named {KERNEL_NAME!r} ({KERNEL_DISPLAY_NAME}) that "
        "runs this Python, which has the kit, so VS Code or a Jupyter installed elsewhere "
        "(system-wide, a hub) can run the lessons with it.",
    )
    p.add_argument(
        "--sys-prefix",
        action="store_true",
        help="install into this environment (sys.prefix) instead of for the current user",
    )
    p.set_defaults(func=cmd_kernel)

    p = sub.add_parser(
        "info",
        help="versions, the database in use and its row counts",
        description="Show versions, the database in use (password hidden) and row counts.",
    )
    _add_database(p, "database to describe")
    p.set_defaults(func=cmd_info)
    return parser


def _own_version() -> str:
    return _version("ormkit") or "unknown"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ormkit`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        require_notebooks_extra(args.command)
        return func(args)
    except CommandError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "free_port", "lab_command", "lab_url", "main", "new_token"]


if __name__ == "__main__":
    raise SystemExit(main())
