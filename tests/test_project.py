"""Project files agree: environment.yml and constraints.txt follow pyproject.toml's dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
EXTRAS = ["notebooks", "test", "postgresql", "mysql"]  # what `.[dev]` and environment.yml hold

# conda-forge spells a few packages differently from PyPI.
CONDA_NAME = {"matplotlib": "matplotlib-base", "playwright": "playwright-python"}
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


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt line {line!r} is not an exact pin"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def test_constraints_pin_every_direct_dependency() -> None:
    pins = constraints()
    for req in direct_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt does not pin {name}"
        assert Version(pins[name]) in req.specifier, (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req.specifier}"
        )
        for extra in req.extras:
            for package in EXTRA_PACKAGES.get((name, extra), []):
                assert package in pins, f"constraints.txt does not pin {package}"


def test_constraints_do_not_pin_ormkit_itself() -> None:
    assert "ormkit" not in constraints()


def test_dev_extra_is_the_environment_set() -> None:
    (dev,) = pyproject()["project"]["optional-dependencies"]["dev"]
    assert set(Requirement(dev).extras) == set(EXTRAS)


@pytest.mark.parametrize("target", ["lab", "test", "unit", "nbval", "regen"])
def test_makefile_targets_install_with_the_constraints(target: str) -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^{target}:.*\$\(STAMP\)", makefile, re.M) or re.search(
        rf"^{target}:.*\b(lint|unit|nbval)\b", makefile, re.M
    ), target
    assert "-c constraints.txt" in makefile
