"""Installable without a clone: the wheel carries the lessons, and works from a fresh venv.

The sdist is built from this checkout and the wheel from the sdist (``python -m build``), so a
file the sdist forgets is missing from the wheel too. Then, in a fresh virtualenv in a folder with
no checkout, with its own HOME:

- the base install refuses the notebook commands in one line that names the extra;
- with ``[notebooks]``, ``ormkit lab`` copies the lessons to a folder the user owns and serves
  them, ``ormkit check`` passes on the installed lessons, ``ormkit kernel`` installs the named
  kernel, and nothing inside site-packages is written.

Installs use constraints.txt, as the README says; pip's cache makes a repeat run quick.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ormkit.cli import free_port

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted(
    str(p.relative_to(REPO / "notebooks"))
    for pattern in ("[0-9][0-9]_*.ipynb", "solutions/[0-9][0-9]_*.ipynb", "README.md")
    for p in (REPO / "notebooks").glob(pattern)
)
NOTEBOOK_COMMANDS = [
    ["check"],
    ["student", "out"],
    ["playground"],
    ["lab", "--no-browser"],
    ["kernel"],
]

pytestmark = pytest.mark.slow


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)])
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools' scratch folder
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("ormkit-*.whl")
    return found


def _clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ORMKIT_", "PYTEST_", "VIRTUAL_ENV", "JUPYTER", "IPYTHON"))
        and k not in ("PYTHONPATH", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "COV_CORE_SOURCE")
    }
    env["HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder with no checkout, its own HOME, and a virtualenv made there."""
    root = tmp_path_factory.mktemp("elsewhere")
    home = root / "home"
    home.mkdir()
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    yield root, _clean_env(home)


def _bin(root: Path, name: str) -> str:
    folder = "Scripts" if os.name == "nt" else "bin"
    return str(root / "venv" / folder / name)


def _pip_install(root: Path, env: dict[str, str], target: str) -> None:
    done = _run(
        [_bin(root, "python"), "-m", "pip", "install", "--quiet",
         "-c", str(REPO / "constraints.txt"), target],
        cwd=root, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _site_lessons(root: Path, env: dict[str, str]) -> Path:
    code = "import ormkit.notebooks as n; print(n.NOTEBOOK_DIR, n.lessons_are_packaged())"
    done = _run([_bin(root, "python"), "-c", code], cwd=root, env=env)
    folder, packaged = done.stdout.split()
    assert packaged == "True", done.stdout + done.stderr
    return Path(folder)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_the_wheel_and_sdist_carry_the_lessons_and_solutions(dist: Path, wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
    shipped = sorted(n.removeprefix("ormkit/lessons/") for n in names if "/lessons/" in n)
    assert shipped == LESSONS
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if "conftest" in n or n.startswith("tests/")]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(wheel) as whl:
        text = whl.read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert "Provides-Extra: notebooks" in text
    (sdist,) = dist.glob("ormkit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    for required in ["LICENSE", "CHANGELOG.md", "setup.py", "constraints.txt"]:
        assert required in members
    assert {f"notebooks/{name}" for name in LESSONS} <= members


def test_a_base_install_names_the_extra_in_one_line(
    wheel: Path, fresh: tuple[Path, dict[str, str]]
) -> None:
    root, env = fresh
    _pip_install(root, env, str(wheel))
    for args in NOTEBOOK_COMMANDS:
        done = _run([_bin(root, "ormkit"), *args], cwd=root, env=env)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (args, done.stderr)
        assert lines[0].startswith(f"ormkit {args[0]}: error: needs the notebooks extra")
        assert "pip install 'ormkit[notebooks]'" in lines[0]
    # The library itself works without the extra.
    info = _run([_bin(root, "ormkit"), "info"], cwd=root, env=env)
    assert info.returncode == 0, info.stderr
    assert "rule: your per-user data folder" in info.stdout


def test_the_notebooks_extra_runs_lab_check_and_kernel_from_the_wheel(
    wheel: Path, fresh: tuple[Path, dict[str, str]]
) -> None:
    root, env = fresh
    _pip_install(root, env, f"{wheel}[notebooks]")
    site_lessons = _site_lessons(root, env)
    before = _snapshot(site_lessons.parent)

    # ormkit lab: the lessons are copied to ~/ormkit-lessons and served from there.
    port = free_port()
    log = root / "lab.log"
    with log.open("w") as out:
        lab = subprocess.Popen(
            [_bin(root, "ormkit"), "lab", "--no-browser", "--port", str(port)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = _wait_for_url(lab, log)
        copied = Path(env["HOME"]) / "ormkit-lessons"
        assert (
            sorted(str(p.relative_to(copied)) for p in copied.rglob("*") if p.is_file()) == LESSONS
        )
        token = re.search(r"token=(\w+)", url).group(1)  # type: ignore[union-attr]
        listing = _get_json(f"http://127.0.0.1:{port}/api/contents?token={token}")
        names = {item["name"] for item in listing["content"]}
        assert "00_start_here.ipynb" in names and "solutions" in names
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()

    # ormkit check: every installed lesson and solution passes, on a scratch database.
    check = _run([_bin(root, "ormkit"), "check"], cwd=root, env=env)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert f"{len([n for n in LESSONS if n.endswith('.ipynb')])} passed, 0 failed" in check.stdout

    # ormkit kernel: a named kernel for this interpreter, found by any Jupyter of this user.
    kernel = _run([_bin(root, "ormkit"), "kernel"], cwd=root, env=env)
    assert kernel.returncode == 0, kernel.stderr
    spec = Path(env["HOME"]) / ".local" / "share" / "jupyter" / "kernels" / "ormkit" / "kernel.json"
    argv = json.loads(spec.read_text())["argv"]
    assert Path(argv[0]).parent == Path(_bin(root, "python")).parent
    listed = _run([_bin(root, "jupyter"), "kernelspec", "list", "--json"], cwd=root, env=env)
    assert "ormkit" in json.loads(listed.stdout)["kernelspecs"]

    assert _snapshot(site_lessons.parent) == before, "something wrote inside site-packages"


def _wait_for_url(lab: subprocess.Popen[bytes], log: Path) -> str:
    """The URL ``ormkit lab`` printed, once the server behind it answers."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:\d+/lab\?token=\w+", log.read_text())
        if found:
            try:
                status = found.group(0).replace("/lab?", "/api/status?")
                with urllib.request.urlopen(status, timeout=5):
                    return found.group(0)
            except OSError:
                pass
        if lab.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError("ormkit lab did not start:\n" + log.read_text()[-4000:])


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
