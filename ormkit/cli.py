"""The ``ormkit`` command: ``lab``, ``lessons``, ``check``, ``reset``, ``playground``, ``student``,
``kernel``, ``info``, ``provision``.

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
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import URL

from . import config
from .lab import (
    LAB_HOST,
    default_lessons_home,
    free_port,
    has_display,
    lab_command,
    lab_environ,
    lab_url,
    lessons_folder,
    new_token,
    pick_port,
    port_is_free,
)

PROG = "ormkit"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
T = TypeVar("T")


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


def _database(url: str | None) -> config.Resolved:
    """Resolve ``--database`` (else the environment, else the default); ConfigError -> exit 2."""
    try:
        return config.resolve(url, source="--database")
    except config.ConfigError as exc:
        raise CommandError(str(exc), code=2) from None


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """Turn a database that cannot be used into a one-line :class:`CommandError` (exit 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db import DatabaseLocationError

    try:
        yield
    except DatabaseLocationError as exc:
        raise CommandError(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        message = str(exc).split("\n")[0]
        raise CommandError(f"cannot use the database: {type(exc).__name__}: {message}") from None
    except TypeError as exc:
        # A URL query parameter the driver does not take (``?connect_timeout=`` for asyncpg)
        # surfaces as a TypeError from its connect(): the URL's fault, said in one line.
        if "unexpected keyword argument" not in str(exc):
            raise
        raise CommandError(
            f"cannot use the database: the driver refused a URL parameter ({exc})"
        ) from None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning database errors into one-line :class:`CommandError`."""
    with _database_errors():
        return asyncio.run(coro)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------
# ormkit lab


def cmd_lab(args: argparse.Namespace) -> int:
    target = _database(args.database)  # a bad $ORMKIT_DATABASE_URL too: one line, exit 2
    if args.port is not None:
        port = args.port
        if not port_is_free(port):
            raise CommandError(f"port {port} on {LAB_HOST} is in use; choose another with --port")
    else:
        port = pick_port()
    try:
        folder, copied = lessons_folder(args.dir)
    except OSError as exc:
        where = args.dir or default_lessons_home()
        raise CommandError(f"cannot copy the lessons to {where}: {exc.strerror or exc}") from None
    token = new_token()
    env = lab_environ(token)
    if args.database:
        env[config.ENV_VAR] = target.url.render_as_string(hide_password=False)
    open_browser = args.browser if args.browser is not None else has_display()
    cmd = lab_command(port=port, notebook_dir=folder, open_browser=open_browser)
    if copied is not None and copied.copied:
        kept = f" (kept {len(copied.kept)} you already have)" if copied.kept else ""
        print(f"ormkit lab: copied {len(copied.copied)} lesson file(s) to {folder}{kept}")
    print(f"ormkit lab: notebooks in {folder}")
    print(f"ormkit lab: database {target.shown}  ({target.source})")
    print("ormkit lab: open this URL (the token is your password; do not share it):")
    print(f"    {lab_url(port, token)}", flush=True)
    if os.name != "posix":  # pragma: no cover - Windows has no exec that keeps the console
        import subprocess

        return subprocess.call(cmd, env=env)
    # Replace this process so Ctrl-C goes straight to Jupyter (its own shutdown prompt).
    os.execve(sys.executable, cmd, env)
    return 0  # reached only where execve is replaced (tests)


# --------------------------------------------------------------------------------------------
# ormkit lessons


def cmd_lessons(args: argparse.Namespace) -> int:
    from .notebooks import copy_lessons

    folder = Path(args.dir).expanduser() if args.dir else default_lessons_home()
    try:
        copied = copy_lessons(folder.resolve())
    except OSError as exc:
        raise CommandError(f"cannot copy the lessons to {folder}: {exc.strerror or exc}") from None
    kept = f" (kept {len(copied.kept)} you already have)" if copied.kept else ""
    print(f"ormkit lessons: copied {len(copied.copied)} lesson file(s) to {folder}{kept}")
    return 0


# --------------------------------------------------------------------------------------------
# ormkit check


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
    from .progress import CommandBar

    # A bad --database or $ORMKIT_DATABASE_URL is one line, not 23 failed notebooks.
    target = _database(args.database)
    url = None if target.is_default else target.url.render_as_string(hide_password=False)
    paths = [Path(p) for p in args.notebooks] or discover()
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise CommandError(f"no such notebook: {missing[0]}", code=2)
    not_notebooks = [p for p in paths if not _is_notebook(p)]
    if not_notebooks:
        raise CommandError(f"not a Jupyter notebook: {not_notebooks[0]}", code=2)
    if not paths:
        raise CommandError(f"no notebooks found in {_notebook_dir()}")
    if _needs_confirmation(target):
        # Every lesson starts with reset(): running them drops and reloads the kit's tables there.
        _confirm(
            f"Every lesson resets the tables users and posts in {target.shown}. Continue?",
            yes=args.yes,
            what="run the lessons on that database",
        )
    shown = (
        "a temporary SQLite file (your data is left alone)"
        if url is None
        else f"{target.shown} ({target.source})"
    )
    print(f"Checking {len(paths)} notebook(s) on {shown}", flush=True)
    failures = []
    started = time.perf_counter()
    bar = CommandBar(len(paths), unit="nb")
    try:
        with config.scratch_data_dir("ormkit-check-") if url is None else contextlib.nullcontext():
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


def _needs_confirmation(target: config.Resolved) -> bool:
    # The kit's own default file and throwaway in-memory databases hold nothing precious.
    url = target.url
    in_memory = config.is_sqlite(url) and config.sqlite_file(url) is None
    return not (target.is_default or url == config.default_url() or in_memory)


async def _on(url: URL, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(engine)`` on a new engine for ``url``, disposed afterwards."""
    from .db import make_engine

    engine = make_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


async def _reset_and_count(engine: Any) -> dict[str, int] | None:
    from .db import reset, row_counts

    await reset(engine)
    return await row_counts(engine)


def cmd_reset(args: argparse.Namespace) -> int:
    target = _database(args.database)
    if _needs_confirmation(target):
        _confirm(
            f"Drop the tables users and posts in {target.shown} and reload the sample data?",
            yes=args.yes,
            what=f"reset {target.shown}",
        )
    counts = _run(_on(target.url, _reset_and_count)) or {}
    print(f"reset {target.shown}: {counts.get('users', 0)} users, {counts.get('posts', 0)} posts")
    return 0


# --------------------------------------------------------------------------------------------
# ormkit playground


def playground_url() -> URL:
    """The playground's own SQLite file, beside (never instead of) the lessons' database."""
    return URL.create("sqlite+aiosqlite", database=str(config.default_data_dir() / "playground.db"))


def cmd_playground(args: argparse.Namespace) -> int:
    from . import playground

    if args.database:
        url = _database(args.database).url
    else:
        url = playground_url()
        Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
    with _database_errors():
        return playground.run(url, fresh=args.database is None)


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


def cmd_info(args: argparse.Namespace) -> int:
    from . import __version__
    from .db import row_counts

    target = _database(args.database)
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
    rows.append(("database", f"{target.shown}  ({target.source})"))
    chosen = config.data_dir()
    rows.append(("data folder", f"{chosen.path}  (rule: {chosen.rule})"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    path = config.sqlite_file(target.url)
    if path is not None and not path.exists():
        print(f"{'tables':<{width}}  database file not created yet (run: ormkit reset)")
        return 0
    counts = _run(_on(target.url, row_counts))
    if counts is None:
        print(f"{'tables':<{width}}  tables not created yet (run: ormkit reset)")
    else:
        shown = ", ".join(f"{name} {count}" for name, count in counts.items())
        print(f"{'rows':<{width}}  {shown}")
    return 0


# --------------------------------------------------------------------------------------------
# ormkit provision


def cmd_provision(args: argparse.Namespace) -> int:
    from . import provision

    admin = args.admin or os.environ.get(provision.ADMIN_ENV_VAR) or ""
    if not admin:
        raise CommandError(
            f"give the server's admin URL with --admin or ${provision.ADMIN_ENV_VAR}", code=2
        )
    out = Path(args.out).expanduser()
    try:
        url = config.check_url(admin, source="--admin")
        learners = provision.read_roster(args.roster, prefix=args.prefix)
        credentials = provision.read_credentials(out)
        with _database_errors():
            planned = asyncio.run(provision.plan(url, learners, credentials, remove=args.remove))
    except (config.ConfigError, provision.ProvisionError) as exc:
        raise CommandError(str(exc), code=2) from None

    width = max(len(step.learner.user) for step in planned.steps)
    labels = {"create": "created", "exists": "exists", "remove": "removed", "absent": "absent"}

    def show(step: provision.Step) -> None:
        if step.url is None:
            shown = step.learner.identifier
        else:
            shown = step.url.render_as_string(hide_password=not args.show_passwords)
        print(f"  {labels[step.action]:8} {step.learner.user:<{width}}  {shown}", flush=True)

    try:
        with _database_errors():
            asyncio.run(provision.apply(url, planned, progress=show))
    except CommandError:
        print(f"{PROG} provision: undone: this run's databases and roles were dropped again")
        raise
    data = provision.updated_credentials(credentials, planned, url)
    if args.remove and not data["learners"]:
        out.unlink(missing_ok=True)
        written = "removed (no learners left)"
    else:
        written = "written (mode 0600)" if provision.write_credentials(out, data) else "unchanged"
    counts = ", ".join(
        f"{planned.count(action)} {labels[action]}"
        for action in ("create", "exists", "remove", "absent")
        if planned.count(action)
    )
    print(f"{len(planned.steps)} learner(s) on {planned.backend}: {counts}; {out} {written}")
    if not args.remove:
        print(
            f"hub configuration (jupyterhub_config.py):\n{provision.spawner_snippet(out.resolve())}"
        )
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
        "lessons",
        help="copy the lessons into a folder you own (a hub's servers do this at start)",
        description="Copy the lessons and their solutions into FOLDER (default ~/ormkit-lessons); "
        "files already there are kept, so a learner's work survives. What `ormkit lab` does "
        "before it starts JupyterLab, for a hub that starts JupyterLab itself.",
    )
    p.add_argument("--dir", metavar="FOLDER", help="where to copy them (default ~/ormkit-lessons)")
    p.set_defaults(func=cmd_lessons)

    p = sub.add_parser(
        "provision",
        help="one database and login per learner on PostgreSQL or MariaDB (for a class)",
        description="Create (or with --remove, drop) one database and one login role per "
        "learner of ROSTER on the server of --admin, with the least privilege the lessons need. "
        "Passwords are generated and written only to --out (JSON, mode 0600), which a hub reads "
        "to set each user's ORMKIT_DATABASE_URL. Running it again changes nothing.",
    )
    p.add_argument("roster", metavar="ROSTER", help="CSV file: one JupyterHub user name a line")
    p.add_argument(
        "--admin",
        metavar="URL",
        help="a URL of the server with a user that may create databases and roles, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1/postgres (default: $ORMKIT_PROVISION_ADMIN_URL)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        required=True,
        help="the learners' URLs with their passwords (JSON, created with mode 0600)",
    )
    p.add_argument("--remove", action="store_true", help="drop the roster's databases and roles")
    p.add_argument(
        "--prefix",
        default="ormkit_",
        help="start of every database and role name (default: ormkit_)",
    )
    p.add_argument(
        "--show-passwords",
        action="store_true",
        help="print the URLs with their passwords (default: hidden; they are in --out)",
    )
    p.set_defaults(func=cmd_provision)

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
# free_port, lab_command, lab_url and new_token live in ormkit.lab; re-exported for old callers.


if __name__ == "__main__":
    raise SystemExit(main())
