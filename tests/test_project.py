"""Project files agree: environment.yml and constraints.txt follow pyproject.toml's dependencies."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
# What `.[dev]` and environment.yml hold.
EXTRAS = ["notebooks", "test", "postgresql", "mysql", "fast", "site", "grading"]

# conda-forge spells a few packages differently from PyPI.
CONDA_NAME = {
    "matplotlib": "matplotlib-base",
    "playwright": "playwright-python",
    "build": "python-build",
}
# What an extra of a requirement brings in (conda has no extras, so environment.yml lists it).
EXTRA_PACKAGES = {("sqlalchemy", "asyncio"): ["greenlet"]}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def direct_requirements() -> list[Requirement]:
    project = pyproject()["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def expected_conda_specs() -> dict[str, SpecifierSet | None]:
    """conda package name -> version specifier (None: any version)."""
    specs: dict[str, SpecifierSet | None] = {
        "python": SpecifierSet(pyproject()["project"]["requires-python"]),
    }
    for req in direct_requirements():
        name = canonicalize_name(req.name)
        specs[CONDA_NAME.get(name, name)] = req.specifier
        for extra in req.extras:
            for package in EXTRA_PACKAGES.get((name, extra), []):
                specs[package] = None
    return specs


def conda_dependencies() -> list[tuple[str, str, str]]:
    """(name, version spec, comment) of each conda dependency line of environment.yml."""
    text = (REPO / "environment.yml").read_text()
    assert "\ndependencies:\n" in text
    found = []
    in_deps = False
    for line in text.splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and line and not line.startswith(" "):
            break
        match = re.fullmatch(r"  - ([A-Za-z0-9_.\-]+)(?: ([^#]*?))?\s*(?:#\s*(.*))?", line)
        if in_deps and match and match.group(1) != "pip:":
            found.append((match.group(1), (match.group(2) or "").strip(), match.group(3) or ""))
    return found


def test_environment_uses_conda_forge_only() -> None:
    text = (REPO / "environment.yml").read_text()
    channels = re.search(r"\nchannels:\n((?:  - .*\n)+)", text)
    assert channels is not None
    assert [c.strip("- ").strip() for c in channels.group(1).splitlines()] == [
        "conda-forge",
        "nodefaults",
    ]


def test_environment_matches_pyproject() -> None:
    deps = conda_dependencies()
    names = [name for name, _, _ in deps]
    assert len(names) == len(set(names)), "a dependency is listed twice"
    expected = expected_conda_specs()
    assert set(names) - {"pip"} == set(expected)
    for name, spec, _ in deps:
        if name == "pip" or expected[name] is None:
            continue
        assert SpecifierSet(spec.replace(" ", "")) == expected[name], name


def test_every_environment_dependency_says_why() -> None:
    for name, _, comment in conda_dependencies():
        assert len(comment.strip()) > 10, f"{name} has no comment giving its reason"


def test_environment_installs_the_kit_itself() -> None:
    text = (REPO / "environment.yml").read_text()
    assert re.search(r"\n  - pip:\n      - -e \.(\s|$)", text)


def lock_tool():
    """tools/lock.py, which writes and checks constraints.txt (not part of the package)."""
    spec = importlib.util.spec_from_file_location("lock", REPO / "tools" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCK = lock_tool()
TARGETS = [(python, platform) for python in LOCK.PYTHONS for platform in sorted(LOCK.PLATFORMS)]


def constraints(python: str = "3.11.0", platform: str = "linux") -> dict[str, str]:
    """name -> pinned version, for the lines of constraints.txt that apply on python/platform."""
    text = (REPO / "constraints.txt").read_text()
    env = LOCK.marker_environment(python, platform)
    pins: dict[str, str] = {}
    for req in LOCK.applicable(LOCK.pins(text), env):
        (spec,) = req.specifier
        assert spec.operator == "==", f"constraints.txt line {req} is not an exact pin"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{name} is pinned twice for Python {python} on {platform}"
        pins[name] = spec.version
    return pins


def test_constraints_is_written_by_the_lock_tool() -> None:
    assert (REPO / "constraints.txt").read_text().startswith(LOCK.HEADER)


@pytest.mark.parametrize(("python", "platform"), TARGETS)
def test_constraints_pin_every_direct_dependency(python: str, platform: str) -> None:
    pins = constraints(python, platform)
    env = LOCK.marker_environment(python, platform)
    for req in direct_requirements():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt does not pin {name} for Python {python}"
        assert Version(pins[name]) in req.specifier, (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req.specifier}"
        )
        for extra in req.extras:
            for package in EXTRA_PACKAGES.get((name, extra), []):
                assert package in pins, f"constraints.txt does not pin {package}"


def test_constraints_serve_debian_12s_python_with_a_marker() -> None:
    # The reason the lock is universal: soupsieve 4.1 needs Python >= 3.11.5 (Debian 12 has 3.11.2).
    assert Version(constraints("3.11.2")["soupsieve"]) < Version("3.0")
    assert Version(constraints("3.13.0")["soupsieve"]) >= Version("4.1")


def test_constraints_do_not_pin_ormkit_itself() -> None:
    assert "ormkit" not in constraints()


def test_dev_extra_is_the_environment_set() -> None:
    (dev,) = pyproject()["project"]["optional-dependencies"]["dev"]
    assert set(Requirement(dev).extras) == set(EXTRAS)


# What each documented make target runs (in `make -nB`'s dry-run output), after installing with
# the constraints: a full-line regular expression per command, in order.
INSTALL = r'\.venv/bin/python -m pip install .*-c constraints\.txt -e "?\.\[dev\]"?'
UNIT = r"\.venv/bin/python -m pytest(?!.*--nbval)( .*)?"
NBVAL = r"\.venv/bin/python -m pytest .*--nbval .*--nbval-sanitize-with \S+ notebooks"
MAKE_TARGETS = {
    "lab": [r"\.venv/bin/ormkit lab"],
    "test": [r"\.venv/bin/ruff check .*", UNIT, NBVAL],
    "unit": [UNIT],
    "nbval": [NBVAL],
    "regen": [r"\.venv/bin/python -m ormkit\.notebooks"],
}


def make_dry_run(target: str) -> list[str]:
    """The commands ``make <target>`` would run from scratch (``-B``), without running them."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "-nB", "--no-print-directory", target],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize("target", list(MAKE_TARGETS))
def test_makefile_targets_install_with_the_constraints(target: str) -> None:
    commands = make_dry_run(target)
    installs = [i for i, c in enumerate(commands) if re.fullmatch(INSTALL, c)]
    assert len(installs) == 1, f"make {target} does not install with -c constraints.txt once"
    position = installs[0]
    for pattern in MAKE_TARGETS[target]:
        found = [i for i, c in enumerate(commands) if i > position and re.fullmatch(pattern, c)]
        assert found, f"make {target} does not run {pattern} after the install:\n{commands}"
        position = found[0]


def test_pytest_turns_every_warning_into_an_error() -> None:
    # Un-awaited coroutines, SAWarnings and unclosed connections (Python 3.13+ warns for sqlite3)
    # fail the test that caused them; only a named, foreign warning may be ignored.
    filters = pyproject()["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert filters[0] == "error"
    for entry in filters[1:]:
        action, _, rest = entry.partition(":")
        assert action == "ignore" and rest.split(":")[0], entry  # a message, not a blanket rule
        assert "ResourceWarning" not in entry and "Deprecation" not in rest.split(":")[0], entry
