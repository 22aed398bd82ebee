"""The ``ormkit`` command: arguments, errors, ``lab``'s argv, ``reset``, ``info``, ``check``.

Most tests call :func:`ormkit.cli.main` in-process; ``check`` runs the installed console script
in a subprocess, as an instructor would.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from nbfiles import write_notebook

from ormkit import cli, lab
from ormkit.config import DATA_DIR_ENV_VAR, ENV_VAR
from ormkit.notebooks import NOTEBOOK_DIR

SUBCOMMANDS = [
    "lab", "lessons", "check", "reset", "playground", "student", "kernel", "info", "provision",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own default database folder and no $ORMKIT_DATABASE_URL."""
    data = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV_VAR, str(data))
    monkeypatch.delenv(ENV_VAR, raising=False)
    return data


def _sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _rows(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ---------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("command", [*SUBCOMMANDS, None])
def test_every_subcommand_has_help(command: str | None, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"] if command else ["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ormkit {command or ''}".rstrip())


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["info", "--bogus"],
        ["lab", "--port", "eighty"],
        ["lab", "--port", "70000"],
        ["check", "--timeout", "0"],
        ["student"],
        ["reset", "extra"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage: ormkit" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["info", "reset", "check", "lab", "playground"])
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a database URL"),
        ("postgresql://kit:s3cret@db/test", "not an asyncio driver"),
        ("nosuchdb+x://h/d", "unknown database dialect"),
    ],
)
def test_bad_database_url_is_one_line_and_exit_2(
    command: str, url: str, says: str, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main([command, "--database", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"ormkit {command}: error: --database ")
    assert says in err
    assert "s3cret" not in err


def test_bad_environment_url_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv(ENV_VAR, "mysql://root@127.0.0.1/test")
    assert cli.main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"${ENV_VAR}" in err


# ---------------------------------------------------------------------------------------- lab


def test_lab_command_binds_localhost_with_a_token() -> None:
    token = lab.new_token()
    cmd = lab.lab_command(port=8899, notebook_dir=Path("/x/notebooks"))
    env = lab.lab_environ(token, {"PATH": "/bin"})
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in cmd
    assert "--ServerApp.port=8899" in cmd
    assert "--ServerApp.port_retries=0" in cmd
    assert "--ServerApp.root_dir=/x/notebooks" in cmd
    assert "--ServerApp.open_browser=False" in cmd
    # The token is not on the command line (ps shows that to every local user), nor in a file:
    # it travels in the server's own environment, read by the kit's static config file.
    assert not any(token in arg for arg in cmd)
    assert env == {"PATH": "/bin", lab.TOKEN_ENV_VAR: token}
    assert f"--config={lab.TOKEN_CONFIG}" in cmd
    assert token not in lab.TOKEN_CONFIG.read_text()
    assert len(token) >= 32
    assert lab.new_token() != token


def _run_token_config(env: dict[str, str]) -> tuple[object, dict[str, str]]:
    """Run the token config file as traitlets does; return the token it set and the env after."""
    from traitlets.config import Config

    config = Config()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        code = compile(lab.TOKEN_CONFIG.read_text(), str(lab.TOKEN_CONFIG), "exec")
        exec(code, {"get_config": lambda: config, "__name__": "__main__"})
        return config.IdentityProvider.token, dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_token_config_sets_the_token_and_hides_it_from_kernels() -> None:
    token, after = _run_token_config({"PATH": "/bin", lab.TOKEN_ENV_VAR: "abc123"})
    assert token == "abc123"
    assert lab.TOKEN_ENV_VAR not in after  # kernels and terminals do not inherit it


@pytest.mark.parametrize("env", [{}, {lab.TOKEN_ENV_VAR: ""}, {lab.TOKEN_ENV_VAR: "  "}])
def test_the_token_config_refuses_to_start_without_a_token(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit, match="no token"):
        _run_token_config(env)


def test_the_token_config_does_nothing_when_imported() -> None:
    import importlib

    importlib.import_module("ormkit._lab_token_config")


def _token_from(env: dict[str, str]) -> str:
    return env[lab.TOKEN_ENV_VAR]


@pytest.mark.parametrize("token", ["", "   "])
def test_lab_environ_refuses_an_empty_token(token: str) -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        lab.lab_environ(token)


def test_lab_command_allows_root_only_when_asked_or_root() -> None:
    assert "--allow-root" in lab.lab_command(port=1, allow_root=True)
    assert "--allow-root" not in lab.lab_command(port=1, allow_root=False)
    default = lab.lab_command(port=1)
    assert ("--allow-root" in default) == (os.geteuid() == 0)


@pytest.fixture
def exec_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Capture ``ormkit lab``'s exec of JupyterLab instead of replacing the test process."""
    calls: list[tuple] = []
    monkeypatch.setattr(cli.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    return calls


def test_lab_prints_the_url_with_its_token(
    exec_calls: list[tuple], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    port = cli.free_port()
    db = "postgresql+asyncpg://kit:s3cret@127.0.0.1:5432/test"
    assert cli.main(["lab", "--port", str(port), "--database", db]) == 0
    ((_path, argv, env),) = exec_calls
    token = _token_from(env)
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{port}/lab?token={token}" in out
    assert "kit:***@" in out
    assert "s3cret" not in out
    assert env[ENV_VAR] == db  # the kernels get the real URL
    assert "--ServerApp.open_browser=False" in argv  # no display: no browser
    assert f"--ServerApp.root_dir={NOTEBOOK_DIR}" in argv


def test_lab_refuses_a_busy_port(exec_calls: list[tuple], capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["lab", "--port", str(port)]) == 1
    assert exec_calls == []
    assert f"port {port}" in capsys.readouterr().err


# -------------------------------------------------------------------------------------- reset


def test_reset_default_database_needs_no_confirmation(
    _own_data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["reset"]) == 0
    assert "13 users, 16 posts" in capsys.readouterr().out
    assert _rows(_own_data_dir / "ormkit.db", "users") == 13


def test_reset_other_database_without_tty_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - closed by pytest
    target = tmp_path / "precious.db"
    with closing(sqlite3.connect(target)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
        conn.execute("INSERT INTO users VALUES (1, 'Keep', 1)")
    assert cli.main(["reset", "--database", _sqlite(target)]) == 1
    err = capsys.readouterr().err
    assert "refusing" in err
    assert "--yes" in err
    assert _rows(target, "users") == 1
    sys.stdin.close()


@pytest.mark.parametrize(("answer", "code", "users"), [("n", 1, 1), ("", 1, 1), ("y", 0, 13)])
def test_reset_other_database_asks_on_a_tty(
    answer: str, code: int, users: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "other.db"
    with closing(sqlite3.connect(target)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
        conn.execute("INSERT INTO users VALUES (1, 'Keep', 1)")
    questions: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or answer)
    assert cli.main(["reset", "--database", _sqlite(target)]) == code
    assert len(questions) == 1
    assert str(target) in questions[0]
    assert _rows(target, "users") == users


def test_reset_yes_skips_the_question(tmp_path: Path) -> None:
    target = tmp_path / "other.db"
    assert cli.main(["reset", "--yes", "--database", _sqlite(target)]) == 0
    assert _rows(target, "posts") == 16


# --------------------------------------------------------------------------------------- info


def test_info_before_and_after_reset(_own_data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "SQLAlchemy" in out
    assert str(_own_data_dir / "ormkit.db") in out
    assert "not created yet" in out
    cli.main(["reset"])
    capsys.readouterr()
    assert cli.main(["info"]) == 0
    assert "users 13, posts 16" in capsys.readouterr().out


def test_info_with_empty_database_says_tables_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    target = tmp_path / "empty.db"
    sqlite3.connect(target).close()
    assert cli.main(["info", "--database", _sqlite(target)]) == 0
    assert "tables not created yet" in capsys.readouterr().out


def test_info_hides_the_password_and_reports_an_unreachable_server(
    capsys: pytest.CaptureFixture,
) -> None:
    url = f"postgresql+asyncpg://kit:s3cret@127.0.0.1:{cli.free_port()}/test"
    assert cli.main(["info", "--database", url]) == 1
    captured = capsys.readouterr()
    assert "kit:***@127.0.0.1" in captured.out
    assert "s3cret" not in captured.out + captured.err
    assert captured.err.count("\n") == 1
    assert "cannot use the database" in captured.err


# -------------------------------------------------------------------------------------- check


def _ormkit(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("ormkit")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=300, env=env, **kwargs
    )


@pytest.mark.slow
def test_check_reports_time_and_outcome_and_writes_nothing(tmp_path: Path) -> None:
    lesson = NOTEBOOK_DIR / "00_start_here.ipynb"
    good = write_notebook(tmp_path / "01_good.ipynb", "from ormkit import reset\nawait reset()")
    before = lesson.read_bytes(), good.read_bytes()
    result = _ormkit("check", str(lesson), str(good), env={**os.environ})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Checking 2 notebook(s) on a temporary SQLite file")
    assert lines[1].split()[0] == "ok"
    assert lines[1].split()[1].endswith("s")
    assert lines[1].endswith("00_start_here.ipynb")
    assert "2 passed, 0 failed" in lines[-1]
    assert (lesson.read_bytes(), good.read_bytes()) == before
    assert not (tmp_path / "data").exists()  # the learner's default database was not used


@pytest.mark.slow
def test_check_fails_with_the_failing_cell(tmp_path: Path) -> None:
    bad = write_notebook(
        tmp_path / "02_bad.ipynb", "x = 1", "total = x + 1\nraise KeyError('boom')"
    )
    result = _ormkit("check", str(bad))
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "0 passed, 1 failed" in result.stdout
    assert "02_bad.ipynb, cell 2" in result.stderr
    assert "    total = x + 1" in result.stderr
    assert "=> KeyError: 'boom'" in result.stderr
    assert json.loads(bad.read_text())["cells"][1]["outputs"] == []


def test_check_missing_notebook_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["check", "nope.ipynb"]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_a_bad_env_url_is_one_line_even_for_the_installed_command(tmp_path: Path) -> None:
    # A fresh process, as the console script runs: ormkit is imported before main() starts.
    env = {**os.environ, ENV_VAR: "not a url", DATA_DIR_ENV_VAR: str(tmp_path)}
    run = [sys.executable, "-c", "import sys; from ormkit.cli import main; sys.exit(main())"]
    helped = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True)
    assert helped.returncode == 0 and "usage: ormkit" in helped.stdout
    info = subprocess.run([*run, "info"], env=env, capture_output=True, text=True)
    assert info.returncode == 2
    assert "Traceback" not in info.stderr
    assert info.stderr.strip().startswith("ormkit info: error:")


def test_check_refuses_a_file_that_is_not_awrite_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bogus = tmp_path / "bogus.ipynb"
    bogus.write_text("not json")
    assert cli.main(["check", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "not a Jupyter notebook" in err and "Traceback" not in err


def test_check_asks_before_resetting_a_real_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Every lesson starts with reset(): on a server database that would drop its tables.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal to ask on
    url = "postgresql+asyncpg://kit@127.0.0.1:1/test"
    notebook = str(NOTEBOOK_DIR / "00_start_here.ipynb")
    assert cli.main(["check", "--database", url, notebook]) == 1
    assert "add --yes to confirm" in capsys.readouterr().err


def test_student_reports_an_unwritable_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["student", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ormkit student: error: cannot write to") and "Traceback" not in err


# ------------------------------------------------------------------ base install, no extras


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["check"], "nbclient"),
        (["student", "out"], "nbformat"),
        (["playground"], "IPython"),
        (["lab"], "jupyterlab"),
        (["kernel"], "ipykernel"),
    ],
)
def test_notebook_commands_name_the_extra_when_it_is_missing(
    argv: list[str],
    module: str,
    exec_calls: list[tuple],
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"ormkit {argv[0]}: error: needs the notebooks extra ({module} ")
    assert err.endswith("pip install 'ormkit[notebooks]'")
    assert exec_calls == []


# ------------------------------------------------------------------------- lab's lessons folder


def test_lab_in_a_checkout_opens_its_notebooks_folder(
    exec_calls: list[tuple], capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    assert cli.main(["lab", "--port", str(cli.free_port()), "--no-browser"]) == 0
    ((_path, argv, _env),) = exec_calls
    assert f"--ServerApp.root_dir={NOTEBOOK_DIR}" in argv
    assert "copied" not in capsys.readouterr().out


def test_lab_from_a_wheel_copies_the_lessons_to_a_folder_the_user_owns(
    exec_calls: list[tuple],
    capsys: pytest.CaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ormkit import notebooks

    monkeypatch.setattr(notebooks, "PACKAGED_LESSONS", NOTEBOOK_DIR)  # stands in for the wheel's
    monkeypatch.setattr(notebooks, "NOTEBOOK_DIR", NOTEBOOK_DIR)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cli.main(["lab", "--port", str(cli.free_port()), "--no-browser"]) == 0
    home = tmp_path / "home" / "ormkit-lessons"
    ((_path, argv, _env),) = exec_calls
    assert f"--ServerApp.root_dir={home}" in argv
    assert (home / "00_start_here.ipynb").read_bytes() == (
        NOTEBOOK_DIR / "00_start_here.ipynb"
    ).read_bytes()
    assert (home / "solutions" / "01_engine_sessions_models.ipynb").is_file()
    assert not (home / "conftest.py").exists()
    out = capsys.readouterr().out
    assert f"copied {len(notebooks.lesson_files())} lesson file(s) to {home}" in out
    # The learner's work is kept on the next start.
    (home / "00_start_here.ipynb").write_text("my notes")
    assert cli.main(["lab", "--port", str(cli.free_port()), "--no-browser"]) == 0
    assert (home / "00_start_here.ipynb").read_text() == "my notes"


def test_lab_dir_copies_into_the_given_folder_and_reports_a_bad_one(
    exec_calls: list[tuple], capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    target = tmp_path / "class" / "lessons"
    assert cli.main(["lab", "--port", str(cli.free_port()), "--dir", str(target)]) == 0
    assert (target / "README.md").is_file()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["lab", "--port", str(cli.free_port()), "--dir", str(blocker / "x")]) == 1
    err = capsys.readouterr().err
    assert "cannot copy the lessons to" in err and "Traceback" not in err


def test_lessons_copies_the_lessons_and_keeps_a_learners_work(
    capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a hub's servers run before JupyterLab starts (the README's hub recipe).
    from ormkit import notebooks

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = tmp_path / "home" / "ormkit-lessons"
    total = len(notebooks.lesson_files())
    assert cli.main(["lessons"]) == 0
    assert capsys.readouterr().out == f"ormkit lessons: copied {total} lesson file(s) to {home}\n"
    assert (home / "02_inserts.ipynb").read_bytes() == (
        NOTEBOOK_DIR / "02_inserts.ipynb"
    ).read_bytes()
    (home / "02_inserts.ipynb").write_text("my work")
    assert cli.main(["lessons"]) == 0
    assert capsys.readouterr().out == (
        f"ormkit lessons: copied 0 lesson file(s) to {home} (kept {total} you already have)\n"
    )
    assert (home / "02_inserts.ipynb").read_text() == "my work"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["lessons", "--dir", str(blocker / "x")]) == 1
    err = capsys.readouterr().err
    assert f"ormkit lessons: error: cannot copy the lessons to {blocker / 'x'}" in err


# ----------------------------------------------------------------------------------- kernel


def test_kernel_installs_a_named_kernel_for_this_python(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("JUPYTER_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert cli.main(["kernel"]) == 0
    spec = json.loads((tmp_path / ".local/share/jupyter/kernels/ormkit/kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    assert spec["display_name"] == "Python (ormkit)"
    assert "installed the Jupyter kernel 'ormkit'" in capsys.readouterr().out


def test_info_says_which_rule_chose_the_data_folder(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, _own_data_dir: Path
) -> None:
    assert cli.main(["info"]) == 0
    assert f"data folder  {_own_data_dir}  (rule: $ORMKIT_DATA_DIR)" in capsys.readouterr().out
    monkeypatch.delenv(DATA_DIR_ENV_VAR)
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "one folder per JupyterHub user ($JUPYTERHUB_USER=ada)" in out
    assert str(Path("users") / "ada" / "ormkit.db") in out


def test_lab_with_a_bad_env_url_is_one_line_and_exit_2(
    exec_calls: list[tuple], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "mysql://root@127.0.0.1/test")  # no async driver
    assert cli.main(["lab", "--port", str(cli.free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ormkit lab: error: $ORMKIT_DATABASE_URL 'mysql://root@127.0.0.1/test'")
    assert exec_calls == []


def test_lab_leaves_nothing_in_the_temp_folder(
    exec_calls: list[tuple],
    capsys: pytest.CaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Earlier versions wrote the token to /tmp/ormkit-lab-*/, kept after JupyterLab exited.
    import tempfile

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    assert cli.main(["lab", "--port", str(cli.free_port())]) == 0
    assert exec_calls
    assert list(private.iterdir()) == []


def test_info_names_the_source_of_the_url(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = _sqlite(tmp_path / "x.db")
    assert cli.main(["info", "--database", url]) == 0
    assert f"{url}  (--database)" in capsys.readouterr().out
    monkeypatch.setenv(ENV_VAR, url)
    assert cli.main(["info"]) == 0
    assert f"{url}  ($ORMKIT_DATABASE_URL)" in capsys.readouterr().out
    monkeypatch.delenv(ENV_VAR)
    assert cli.main(["info"]) == 0
    assert "(default: $ORMKIT_DATA_DIR)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test?connect_timeout=abc",
        "postgresql+asyncpg://postgres@127.0.0.1:99999/test",
    ],
)
@pytest.mark.parametrize("command", [["info"], ["reset", "--yes"]])
def test_a_url_the_driver_refuses_is_one_line(
    url: str, command: list[str], capsys: pytest.CaptureFixture
) -> None:
    code = cli.main([*command, "--database", url])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert err.count("\n") == 1 and "Traceback" not in err, err
