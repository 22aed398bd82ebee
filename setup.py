"""Build hook: the wheel carries the lessons and their solutions inside the package.

The lessons live in the top-level ``notebooks/`` folder of the source tree (where nbval, `make
regen` and git history want them). A wheel has no such folder, so ``build_py`` copies them to
``ormkit/lessons/``; ``ormkit.notebooks`` finds them there when no checkout is around, and
``ormkit lab`` copies them to a folder the learner owns. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LESSONS = Path(__file__).resolve().parent / "notebooks"
PATTERNS = ["[0-9][0-9]_*.ipynb", "solutions/[0-9][0-9]_*.ipynb", "README.md"]


class build_py_with_lessons(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "ormkit" / "lessons"
        found = sorted({p for pattern in PATTERNS for p in LESSONS.glob(pattern)})
        if not any(p.suffix == ".ipynb" for p in found):
            raise SystemExit(f"no lessons found in {LESSONS}: the wheel would have none")
        for source in found:
            dest = target / source.relative_to(LESSONS)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)


setup(cmdclass={"build_py": build_py_with_lessons})
