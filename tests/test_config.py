"""Which database: argument > ``ORMKIT_DATABASE_URL`` > default file; errors that say the fix."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from ormkit import ConfigError, DatabaseLocationError, default_url, display_url, make_engine
from ormkit import config as config_module
from ormkit import db as db_module
from ormkit.config import DATA_DIR_ENV_VAR, ENV_VAR, resolve_url

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-Pa55"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv(DATA_DIR_ENV_VAR, raising=False)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    return monkeypatch


# --- precedence -------------------------------------------------------------------------------


def test_default_is_a_sqlite_file_in_the_repos_data_folder(clean_env: pytest.MonkeyPatch) -> None:
    url = resolve_url()
    assert url.drivername == "sqlite+aiosqlite"
    assert url == default_url()
    assert Path(url.database) == REPO / "data" / "ormkit.db"  # type: ignore[arg-type]


def test_default_does_not_depend_on_the_current_directory(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = resolve_url()
    clean_env.chdir(tmp_path)
    assert resolve_url() == before
    assert Path(before.database).is_absolute()  # type: ignore[arg-type]


def test_data_folder_is_git_ignored() -> None:
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "data/" in ignored or "/data/" in ignored
    if shutil.which("git") is None:
        pytest.skip("git is not installed: checked .gitignore's text only")
    probe = subprocess.run(["git", "check-ignore", "-q", "data/ormkit.db"], cwd=REPO, check=False)
    if probe.returncode == 128:
        pytest.skip("not a git checkout: checked .gitignore's text only")
    assert probe.returncode == 0


def test_data_dir_env_var_moves_the_default_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv(DATA_DIR_ENV_VAR, str(tmp_path / "elsewhere"))
    url = resolve_url()
    assert url.drivername == "sqlite+aiosqlite"
    assert Path(url.database) == tmp_path / "elsewhere" / "ormkit.db"  # type: ignore[arg-type]


def test_a_checkout_owned_by_someone_else_uses_the_per_user_folder(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One checkout shared by every JupyterHub user must not give them one shared SQLite file.
    clean_env.setattr(config_module, "_owned_by_me", lambda path: False)
    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert config_module.default_data_dir() == tmp_path / "xdg" / "ormkit"
    clean_env.delenv("XDG_DATA_HOME")
    clean_env.setenv("HOME", str(tmp_path / "home"))
    assert config_module.default_data_dir() == tmp_path / "home" / ".local" / "share" / "ormkit"


async def _connect_to_the_default() -> None:
    """Open (and so create) the default database once, then dispose of the engine."""
    engine = make_engine()
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("owned", [True, False])
def test_each_jupyterhub_user_gets_a_database_of_their_own(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, owned: bool
) -> None:
    # Simple spawners and one-uid containers run every hub user's server as one Unix user, with
    # one home folder: only $JUPYTERHUB_USER tells them apart.
    clean_env.setattr(config_module, "_owned_by_me", lambda path: owned)
    clean_env.setenv("HOME", str(tmp_path / "home"))
    clean_env.setenv("JUPYTERHUB_USER", "ada")
    ada = config_module.data_dir()
    clean_env.setenv("JUPYTERHUB_USER", "grace")
    grace = config_module.data_dir()
    assert ada.path != grace.path
    assert ada.path.parent == grace.path.parent
    assert ada.path.name == "ada" and ada.path.parent.name == "users"
    assert Path(default_url().database).parent == grace.path  # type: ignore[arg-type]
    assert "one folder per JupyterHub user ($JUPYTERHUB_USER=grace)" in grace.rule
    expected = "your own checkout" if owned else "per-user data folder"
    assert expected in grace.rule


def test_data_dir_env_var_beats_the_hub_user(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("JUPYTERHUB_USER", "ada")
    clean_env.setenv(DATA_DIR_ENV_VAR, str(tmp_path / "shared"))
    assert config_module.data_dir() == config_module.DataDir(
        tmp_path / "shared", "$ORMKIT_DATA_DIR"
    )


HUB_NAMES = ["ada", "a/b", "a-b", "a_b", "a.b", "..", ".", "", "ada@example.org", "Zoë",
             "\u0ebc", "\udc80", "a b", "-2f", "A", "a"]  # fmt: skip


def test_hub_user_names_become_distinct_safe_folder_names() -> None:
    folders = [config_module.safe_folder_name(name) for name in HUB_NAMES]
    assert len(set(folders)) == len(HUB_NAMES)
    for folder in folders:
        assert folder and folder not in (".", "..")
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+", folder), folder


def test_the_default_database_of_a_hub_user_is_created_on_first_use(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setattr(config_module, "_owned_by_me", lambda path: False)
    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    clean_env.setenv("JUPYTERHUB_USER", "ada@example.org")

    asyncio.run(_connect_to_the_default())
    assert (tmp_path / "xdg" / "ormkit" / "users" / "ada-40example.org" / "ormkit.db").is_file()


def test_env_var_beats_the_default(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv(DATA_DIR_ENV_VAR, str(tmp_path))
    clean_env.setenv(ENV_VAR, "sqlite+aiosqlite:///from-env.db")
    assert resolve_url() == make_url("sqlite+aiosqlite:///from-env.db")


def test_argument_beats_the_env_var(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(ENV_VAR, "sqlite+aiosqlite:///from-env.db")
    assert resolve_url("sqlite+aiosqlite:///from-arg.db") == make_url(
        "sqlite+aiosqlite:///from-arg.db"
    )
    as_url = URL.create("sqlite+aiosqlite", database="obj.db")
    assert resolve_url(as_url) == as_url


def test_empty_env_var_means_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(ENV_VAR, "")
    assert resolve_url() == default_url()


async def test_make_engine_follows_the_same_precedence(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv(DATA_DIR_ENV_VAR, str(tmp_path))
    engines = [make_engine()]
    clean_env.setenv(ENV_VAR, f"sqlite+aiosqlite:///{tmp_path / 'env.db'}")
    engines += [make_engine(), make_engine("sqlite+aiosqlite://")]
    try:
        assert [e.url.database for e in engines] == [
            str(tmp_path / "ormkit.db"),
            str(tmp_path / "env.db"),
            None,
        ]
        assert not list(tmp_path.iterdir())  # creating an engine connects to nothing
    finally:
        for engine in engines:
            await engine.dispose()


async def test_default_folder_is_created_on_first_use_not_before(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "new" / "data"
    clean_env.setenv(DATA_DIR_ENV_VAR, str(data))
    engine = make_engine()
    assert not data.exists()
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
    assert (data / "ormkit.db").is_file()


async def test_a_missing_folder_for_an_explicit_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "kit.db"
    engine = make_engine(f"sqlite+aiosqlite:///{missing}")
    try:
        with pytest.raises(DatabaseLocationError, match="does not exist") as info:
            async with engine.connect():
                pass
        assert str(missing.parent) in str(info.value)
        assert "ORMKIT_DATABASE_URL" in str(info.value)
    finally:
        await engine.dispose()
    assert not missing.parent.exists()


# --- nothing connects at import ---------------------------------------------------------------

IMPORT_PROBE = textwrap.dedent(
    """
    import ormkit
    from ormkit import engine, async_session
    print(engine.url.render_as_string(hide_password=True))
    """
)


def _import_ormkit(env_updates: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, DATA_DIR_ENV_VAR)}
    env.update(env_updates)
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", IMPORT_PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_import_does_not_connect(tmp_path: Path) -> None:
    # An unreachable server: any connection attempt would fail (or hang) the import.
    unreachable = f"postgresql+asyncpg://kit:{SECRET}@127.0.0.1:9/nowhere"
    done = _import_ormkit({ENV_VAR: unreachable})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "postgresql+asyncpg://kit:***@127.0.0.1:9/nowhere"
    assert SECRET not in done.stdout + done.stderr
    # A SQLite file in a folder that does not exist: importing creates neither.
    missing = tmp_path / "missing" / "kit.db"
    done = _import_ormkit({ENV_VAR: f"sqlite+aiosqlite:///{missing}"})
    assert done.returncode == 0, done.stderr
    assert not missing.parent.exists()
    # The default file, moved to a folder that does not exist yet: not created at import either.
    data = tmp_path / "data"
    done = _import_ormkit({DATA_DIR_ENV_VAR: str(data)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(str(data / "ormkit.db"))
    assert not data.exists()


# --- passwords are never displayed -------------------------------------------------------------


def test_display_url_hides_the_password() -> None:
    url = f"postgresql+asyncpg://kit:{SECRET}@db.example:5432/test"
    assert display_url(url) == "postgresql+asyncpg://kit:***@db.example:5432/test"
    assert display_url(make_url(url)) == "postgresql+asyncpg://kit:***@db.example:5432/test"
    assert display_url("sqlite+aiosqlite:///kit.db") == "sqlite+aiosqlite:///kit.db"
    assert display_url("not a url") == "<malformed URL>"
    assert display_url(f"postgresql+asyncpg://kit:{SECRET}@h:port/x") == "<malformed URL>"


async def test_display_url_and_engine_repr_hide_the_password() -> None:
    engine = make_engine(f"postgresql+asyncpg://kit:{SECRET}@127.0.0.1:9/test")
    try:
        assert display_url(engine.url) == "postgresql+asyncpg://kit:***@127.0.0.1:9/test"
        assert SECRET not in repr(engine)
    finally:
        await engine.dispose()


# --- errors that say how to fix them -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "expected the form 'dialect+driver://"),
        ("", "is empty"),
        ("   ", "is empty"),
        (f"postgresql+asyncpg://kit:{SECRET}@host:notaport/db", "expected the form"),
        (f"nosuchdb+driver://kit:{SECRET}@h/d", "unknown database dialect"),
        ("nosuchdb://x", "use one of: mariadb+asyncmy, mysql+asyncmy, postgresql+asyncpg"),
        (f"postgresql://kit:{SECRET}@h/d", "'postgresql+asyncpg'"),
        (f"postgresql+psycopg2://kit:{SECRET}@h/d", "'psycopg2', which is not an asyncio"),
        (f"mysql+pymysql://kit:{SECRET}@h/d", "'mysql+asyncmy'"),
        ("sqlite://", "'sqlite+aiosqlite'"),
        ("sqlite:///kit.db", "not an asyncio driver"),
    ],
)
def test_unusable_urls_raise_config_error_with_the_fix(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_url(url)
    message = str(info.value)
    assert expected in message
    assert message.startswith("the url argument")
    assert SECRET not in message
    assert isinstance(info.value, ValueError)


def test_error_from_the_env_var_says_so(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(ENV_VAR, f"postgresql://kit:{SECRET}@h/d")
    with pytest.raises(ConfigError, match=r"^\$ORMKIT_DATABASE_URL .*postgresql\+asyncpg") as info:
        resolve_url()
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("url", "module", "fix"),
    [
        ("postgresql+asyncpg://h/d", "asyncpg", "pip install 'ormkit[postgresql]'"),
        ("mysql+asyncmy://h/d", "asyncmy", "pip install 'ormkit[mysql]'"),
        ("mariadb+asyncmy://h/d", "asyncmy", "pip install 'ormkit[mysql]'"),
        ("sqlite+aiosqlite:///kit.db", "aiosqlite", "pip install aiosqlite"),
        ("postgresql+psycopg://h/d", "psycopg", "pip install psycopg"),
        ("mysql+aiomysql://h/d", "aiomysql", "pip install aiomysql"),
    ],
)
def test_missing_driver_package_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, fix: str
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object, **kwargs: object) -> object:
        if name == module:
            return None
        return real_find_spec(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(config_module.importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError) as info:
        resolve_url(url)
    message = str(info.value)
    assert f"needs the {module!r} package, which is not installed" in message
    assert message.endswith(f"run: {fix}")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///relative.db",
        "sqlite+aiosqlite:////abs/path.db",
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        "mysql+asyncmy://root@127.0.0.1:3306/test",
        "mariadb+asyncmy://root@127.0.0.1:3306/test",
    ],
)
def test_usable_urls_resolve_unchanged(url: str) -> None:
    assert resolve_url(url) == make_url(url)


async def test_use_database_points_the_kit_elsewhere(tmp_path: Path) -> None:
    import ormkit
    from ormkit import async_session, count_users, reset, sample_data, use_database

    # kit.using() puts the kit's database back afterwards, whatever happened inside.
    async with db_module.kit.using(f"sqlite+aiosqlite:///{tmp_path / 'first.db'}") as first:
        other = tmp_path / "other.db"
        new = use_database(f"sqlite+aiosqlite:///{other}")
        try:
            assert db_module.engine is new and ormkit.engine is new
            assert async_session.kw["bind"] is new
            assert db_module.kit.resolved.source == "the url argument"
            await reset()
            assert await count_users() == len(sample_data.USERS)
            assert other.is_file()
        finally:
            await new.dispose()
    assert db_module.engine is not first and db_module.engine is not new


def test_assigning_db_engine_is_refused_with_the_way_to_switch() -> None:
    before = db_module.engine
    with pytest.raises(AttributeError, match="use_database"):
        db_module.engine = before  # type: ignore[misc]  # what the refusal is about
    assert db_module.engine is db_module.kit.engine


def test_display_url_hides_a_password_given_as_a_query_parameter() -> None:
    shown = display_url(f"postgresql+asyncpg://kit@db/test?password={SECRET}&ssl=require")
    assert SECRET not in shown
    assert "password=***" in shown
    assert "ssl=require" in shown


@pytest.mark.parametrize("value", [123, b"sqlite+aiosqlite://", ["sqlite+aiosqlite://"]])
def test_a_url_of_the_wrong_type_says_so(value: object) -> None:
    with pytest.raises(ConfigError, match=f"not {type(value).__name__}"):
        resolve_url(value)  # type: ignore[arg-type]


def test_a_bad_env_url_does_not_break_import_but_fails_at_first_use(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import asyncio
        import ormkit
        try:
            asyncio.run(ormkit.reset())
        except ormkit.ConfigError as exc:
            print("ConfigError:", exc)
        """
    )
    env = {**os.environ, ENV_VAR: "not a url", DATA_DIR_ENV_VAR: str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ConfigError: ${ENV_VAR} is not a database URL")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite:///C:\\Users\\me\\kit.db",  # a Windows path: no %3A / %5C escapes
        "sqlite+aiosqlite:////tmp/my lessons/kit.db?mode=ro",
        "sqlite+aiosqlite://",
    ],
)
def test_a_sqlite_path_is_shown_as_typed(url: str) -> None:
    assert display_url(url) == url


def test_a_sqlite_password_parameter_is_still_hidden() -> None:
    assert display_url(f"sqlite+aiosqlite:///x.db?password={SECRET}") == (
        "sqlite+aiosqlite:///x.db?password=***"
    )


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_a_port_out_of_range_is_a_config_error(clean_env: pytest.MonkeyPatch, port: int) -> None:
    # It used to pass and end in a 90-line OverflowError from the socket at the first connect.
    with pytest.raises(ConfigError, match=f"has port {port}; a port is 1-65535"):
        resolve_url(f"postgresql+asyncpg://kit@127.0.0.1:{port}/test")


async def test_the_default_data_folder_is_private_whatever_the_umask(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setattr(config_module, "_owned_by_me", lambda path: False)
    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    old = os.umask(0)
    try:
        await _connect_to_the_default()
    finally:
        os.umask(old)
    assert (tmp_path / "xdg" / "ormkit").stat().st_mode & 0o777 == 0o700
