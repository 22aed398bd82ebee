"""Resolve the database URL: argument > ``ORMKIT_DATABASE_URL`` > the embedded SQLite default.

Nothing here connects to a database; it only decides *which* database and checks that the URL
is usable, so a typo fails early with a message that says how to fix it.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

ENV_VAR = "ORMKIT_DATABASE_URL"
DATA_DIR_ENV_VAR = "ORMKIT_DATA_DIR"
DEFAULT_FILENAME = "ormkit.db"

# driver name -> (module to import, extra that installs it)
_ASYNC_DRIVERS = {
    "aiosqlite": ("aiosqlite", None),
    "asyncpg": ("asyncpg", "postgresql"),
    "psycopg": ("psycopg", None),  # the extras install asyncpg / asyncmy, not these two
    "asyncmy": ("asyncmy", "mysql"),
    "aiomysql": ("aiomysql", None),
}
# dialect -> the async URL prefix to suggest when a sync driver (or none) is given
_SUGGESTED = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mariadb+asyncmy",
}


_SECRET_QUERY_KEYS = {"password", "passwd", "pwd", "sslpassword", "token"}


class ConfigError(ValueError):
    """A database URL that cannot be used, with a message that says how to fix it."""


def _package_root() -> Path:
    return Path(__file__).resolve().parent.parent


HUB_USER_ENV_VAR = "JUPYTERHUB_USER"


@dataclass(frozen=True)
class DataDir:
    """The folder of the default SQLite file, and the rule that chose it (``ormkit info``)."""

    path: Path
    rule: str


def data_dir() -> DataDir:
    """Return the folder that holds the default SQLite file, and why that one.

    ``ORMKIT_DATA_DIR`` wins, exactly as given. Otherwise: in a source checkout (the kit cloned
    from git) that belongs to the current user, the checkout's git-ignored ``data/`` folder, so
    every clone has its own database; an installed copy, or a checkout shared by several users
    (owned by someone else), uses the per-user data folder (``$XDG_DATA_HOME/ormkit`` or
    ``~/.local/share/ormkit``). On a JupyterHub (``JUPYTERHUB_USER`` set) the hub user's name is
    added, ``users/<name>``: hubs whose servers all run as one Unix user (simple spawners, one
    uid in every container) share one home folder, and must not share one database.
    """
    override = os.environ.get(DATA_DIR_ENV_VAR)
    if override:
        return DataDir(Path(override).expanduser().resolve(), f"${DATA_DIR_ENV_VAR}")
    root = _package_root()
    if (root / "pyproject.toml").is_file() and _owned_by_me(root):
        path, rule = root / "data", "the data/ folder of your own checkout"
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
        path = base / "ormkit"
        rule = "your per-user data folder" + (" ($XDG_DATA_HOME)" if xdg else "")
    hub_user = os.environ.get(HUB_USER_ENV_VAR)
    if hub_user:
        path = path / "users" / safe_folder_name(hub_user)
        rule += f", one folder per JupyterHub user (${HUB_USER_ENV_VAR}={hub_user})"
    return DataDir(path, rule)


@contextmanager
def environ(updates: dict[str, str]) -> Iterator[None]:
    """Set ``updates`` in ``os.environ`` for the block (kernels started in it inherit them),
    then put back what was there before, unset variables unset again."""
    saved = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def scratch_data_dir(prefix: str = "ormkit-scratch-") -> Iterator[Path]:
    """Point the default database at a new temporary folder for the block, then remove it.

    What ``ormkit check``, ``make regen`` and nbval's workers run on: never the learner's data.
    Sets ``ORMKIT_DATA_DIR`` in ``os.environ`` and restores the previous value afterwards.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as folder, environ({DATA_DIR_ENV_VAR: folder}):
        yield Path(folder)


def default_data_dir() -> Path:
    """Return the folder that holds the default SQLite file (see :func:`data_dir`)."""
    return data_dir().path


def safe_folder_name(name: str) -> str:
    """Turn any user name into one folder name, different names into different folders.

    ASCII letters, digits, ``_`` and inner dots stay; every other character becomes its UTF-8
    bytes, each written ``-`` and two hex digits (``-`` itself too), so ``a/b``, ``a-b`` and
    ``a_b`` stay apart and ``..`` cannot climb out of the folder.

    Example:
        >>> safe_folder_name("ada@example.org")
        'ada-40example.org'
    """
    out = []
    for index, char in enumerate(name):
        keep = char.isascii() and (char.isalnum() or char == "_" or (char == "." and index > 0))
        out.append(
            char
            if keep
            else "".join(f"-{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))
        )
    return "".join(out) or "-"


def _owned_by_me(path: Path) -> bool:
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: no shared-checkout hubs to worry about
        return True
    return bool(path.stat().st_uid == getuid())


def default_url() -> URL:
    """Return the embedded default: a SQLite file in :func:`default_data_dir`, via aiosqlite.

    Example:
        >>> default_url().render_as_string()
        'sqlite+aiosqlite:////home/me/ormkit/data/ormkit.db'
    """
    return URL.create("sqlite+aiosqlite", database=str(default_data_dir() / DEFAULT_FILENAME))


@dataclass(frozen=True)
class Resolved:
    """A database URL and where it came from (``source``): what ``ormkit info`` prints."""

    url: URL
    source: str
    is_default: bool = False

    @property
    def shown(self) -> str:
        """The URL with its password hidden."""
        return display_url(self.url)


def resolve(url: str | URL | None = None, *, source: str = "the url argument") -> Resolved:
    """Decide the database: ``url`` if given, else ``$ORMKIT_DATABASE_URL``, else the default.

    ``source`` names the argument in messages and in the result (``"--database"`` for the CLI).
    An empty environment variable counts as unset; an empty ``url`` is an error. Raises
    :class:`ConfigError` for a URL that cannot be used, naming where it came from.

    Example:
        >>> resolve("sqlite+aiosqlite://", source="--database").source
        '--database'
    """
    if url is not None:
        return Resolved(check_url(url, source=source), source)
    from_env = os.environ.get(ENV_VAR) or None
    if from_env is not None:
        return Resolved(check_url(from_env, source=f"${ENV_VAR}"), f"${ENV_VAR}")
    chosen = data_dir()
    return Resolved(default_url(), f"default: {chosen.rule}", is_default=True)


def resolve_url(url: str | URL | None = None) -> URL:
    """Return the URL to use: ``url`` if given, else ``$ORMKIT_DATABASE_URL``, else the default.

    Raises :class:`ConfigError` for a malformed URL, an unknown dialect, a synchronous driver
    or an async driver that is not installed.

    Example:
        >>> resolve_url("sqlite+aiosqlite://").drivername
        'sqlite+aiosqlite'
    """
    return resolve(url).url


def check_url(url: str | URL, *, source: str = "the url") -> URL:
    """Parse ``url`` and check that it names an installed asyncio driver."""
    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str):
            raise ConfigError(
                f"{source} must be a string or a sqlalchemy URL, not {type(url).__name__}; "
                "e.g. 'sqlite+aiosqlite:///kit.db'"
            )
        if not url.strip():
            raise ConfigError(f"{source} is empty; give a URL such as 'sqlite+aiosqlite:///kit.db'")
        try:
            parsed = make_url(url.strip())
        except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
            raise ConfigError(
                f"{source} is not a database URL ({exc}); expected the form "
                "'dialect+driver://user:password@host:port/database', "
                "e.g. 'sqlite+aiosqlite:///kit.db' or "
                "'postgresql+asyncpg://postgres@127.0.0.1:5432/test'"
            ) from None
    shown = display_url(parsed)
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ConfigError(f"{source} {shown!r} has port {parsed.port}; a port is 1-65535")
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name() if "+" in parsed.drivername else None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        known = ", ".join(sorted(_SUGGESTED.values()))
        raise ConfigError(
            f"{source} {shown!r} names an unknown database dialect or driver "
            f"{parsed.drivername!r}; use one of: {known}"
        ) from None
    if driver not in _ASYNC_DRIVERS:
        suggestion = _SUGGESTED.get(backend, "sqlite+aiosqlite")
        raise ConfigError(
            f"{source} {shown!r} uses {'no driver' if driver is None else repr(driver)}, "
            f"which is not an asyncio driver; ormkit needs one, e.g. "
            f"{suggestion!r} ({suggestion}://...)"
        )
    module, extra = _ASYNC_DRIVERS[driver]
    if importlib.util.find_spec(module) is None:
        hint = f"pip install 'ormkit[{extra}]'" if extra else f"pip install {module}"
        raise ConfigError(
            f"{source} {shown!r} needs the {module!r} package, which is not installed; run: {hint}"
        )
    return parsed


def display_url(url: str | URL) -> str:
    """Render ``url`` for display with its password replaced by ``***``.

    Example:
        >>> display_url("postgresql+asyncpg://kit:s3cret@db/test")
        'postgresql+asyncpg://kit:***@db/test'
    """
    if not isinstance(url, URL):
        try:
            url = make_url(url)
        except (ArgumentError, ValueError):
            return "<malformed URL>"
    # Drivers also take a password as a query parameter (?password=...): hide that too.
    secret = {k: "***" for k in url.query if k.lower() in _SECRET_QUERY_KEYS}
    if secret:
        url = url.update_query_dict(secret)
    shown = url.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    if is_sqlite(url) and url.database:
        # A SQLite "database" is a path (or :memory:): show it as typed, not %3A-escaped.
        base, sep, query = url._replace(database=None).render_as_string().partition("?")
        shown = f"{base}/{url.database}{sep}{query}".replace("%2A%2A%2A", "***")
    return shown


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_file(url: URL) -> Path | None:
    """Return the file of a SQLite URL, or ``None`` for an in-memory database."""
    if not is_sqlite(url):
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    if url.query.get("mode") == "memory":
        return None
    return Path(database.removeprefix("file:")).expanduser()
