"""Write constraints.txt, the universal lock, and check that it installs everywhere we promise.

    python tools/lock.py write   # re-resolve (uv pip compile --universal), keeping current pins
    python tools/lock.py check   # every pin exists as a wheel for each Python and OS below

One file for every Python from 3.11.0 up and for Linux, macOS and Windows: ``uv pip compile
--universal`` resolves once for all of them and writes an environment marker where one version
cannot serve them all (soupsieve 4.1 needs Python >= 3.11.5, so Debian 12's 3.11.2 gets 2.10;
pywinpty only on Windows). pip understands the markers, so ``pip install -c constraints.txt``
needs no other tool. ``write`` starts from the current file, so a pin only moves when a new
dependency or range forces it (or when ``--upgrade`` asks).

``check`` asks PyPI, for each (Python, OS) below, whether every pin that applies there has a
wheel that accepts that Python (``pip install --dry-run --only-binary=:all: --python-version``).
pip evaluates markers against the Python it runs on, so the markers are applied here first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "constraints.txt"
EXTRAS = ["dev", "hub"]  # dev: notebooks, test, postgresql, mysql; hub: make test-hub's JupyterHub
LOWEST_PYTHON = "3.11"
HEADER = """\
# The exact versions that produced the notebooks' stored outputs, for every supported Python
# (3.11.0 and up) and OS: a universal lock, with environment markers where one pin cannot serve
# them all. Used as pip constraints: pip install -c constraints.txt -e ".[dev]"
# Written by `make constraints` (tools/lock.py: uv pip compile --universal); do not edit by hand.
"""
PYTHONS = ["3.11.0", "3.11.2", "3.12.0", "3.13.0", "3.14.0"]
PLATFORMS = {
    "linux": [
        "manylinux_2_28_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux_2_5_x86_64",
        "manylinux1_x86_64",
        "linux_x86_64",
    ],
    "darwin": ["macosx_14_0_arm64", "macosx_11_0_arm64", "macosx_10_9_universal2"],
    "win32": ["win_amd64"],
}


def marker_environment(python: str, platform: str) -> dict[str, str]:
    """The PEP 508 marker values of CPython ``python`` on ``platform`` (a sys.platform value)."""
    return {
        "python_full_version": python,
        "python_version": ".".join(python.split(".")[:2]),
        "sys_platform": platform,
        "os_name": "nt" if platform == "win32" else "posix",
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[platform],
        "platform_machine": "arm64" if platform == "darwin" else "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


def pins(text: str) -> list[Requirement]:
    found = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            found.append(Requirement(line))
    return found


def applicable(requirements: list[Requirement], env: dict[str, str]) -> list[Requirement]:
    return [r for r in requirements if r.marker is None or r.marker.evaluate(env)]


def write(upgrade: bool) -> int:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(uv).exists():
        print("tools/lock.py: needs uv: python -m pip install uv", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "constraints.txt"
        if LOCK.exists() and not upgrade:
            shutil.copy(LOCK, out)  # uv keeps the pins of an existing output file where it can
        cmd = [
            uv, "pip", "compile", str(REPO / "pyproject.toml"),
            *(f"--extra={extra}" for extra in EXTRAS),
            "--universal", "--python-version", LOWEST_PYTHON,
            "--no-header", "--no-annotate", "--quiet", "-o", str(out),
        ]  # fmt: skip
        if upgrade:
            cmd.append("--upgrade")
        subprocess.run(cmd, check=True)
        body = out.read_text()
    LOCK.write_text(HEADER + body)
    print(f"wrote {LOCK.name}: {len(pins(body))} pins")
    return 0


def check() -> int:
    requirements = pins(LOCK.read_text())
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for python in PYTHONS:
            for platform, tags in PLATFORMS.items():
                chosen = applicable(requirements, marker_environment(python, platform))
                listed = Path(folder) / f"{python}-{platform}.txt"
                listed.write_text("".join(f"{r.name}{r.specifier}\n" for r in chosen))
                cmd = [
                    sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
                    "--ignore-installed", "--no-deps", "--only-binary=:all:",
                    "--python-version", python, "--target", str(Path(folder) / "target"),
                    *(f"--platform={tag}" for tag in tags), "-r", str(listed),
                ]  # fmt: skip
                done = subprocess.run(cmd, capture_output=True, text=True, env=_quiet_pip())
                errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
                status = "ok" if done.returncode == 0 else "FAILED"
                print(f"{status:6} Python {python:7} {platform:6} {len(chosen)} pins")
                if done.returncode:
                    failed += 1
                    print("\n".join(f"       {line}" for line in errors[-3:]), file=sys.stderr)
    return 1 if failed else 0


def _quiet_pip() -> dict[str, str]:
    return {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/lock.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("write", help="re-resolve constraints.txt for every Python and OS")
    p.add_argument("--upgrade", action="store_true", help="move every pin to its newest release")
    sub.add_parser("check", help="check that every pin installs on each Python and OS")
    args = parser.parse_args(argv)
    return write(args.upgrade) if args.command == "write" else check()


if __name__ == "__main__":
    raise SystemExit(main())
