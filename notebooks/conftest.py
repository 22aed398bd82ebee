"""nbval's kernels: a private default database per worker, strict about deprecated API in lessons.

nbval runs notebooks in parallel workers. Every lesson resets the database at its start, so
lessons that share one database in sequence are fine (that is how a learner runs them), but two
running at once must not: each worker gets its own data folder, removed at the end.

The kernels nbval starts inherit this process's environment; :func:`ormkit.notebooks.strict_kernels`
makes a DeprecationWarning raised by a cell's code, ormkit, SQLAlchemy or pandas an error in that
cell (so the run fails), while Jupyter's own start-up warnings (tornado on Python 3.12+) stay
warnings. `ormkit check` and `make regen` run kernels under the same rule.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import nbval.kernel
import pytest

from ormkit.config import environ, resolve, scratch_data_dir
from ormkit.notebooks import start_again_if_it_died, strict_kernels

_stack = contextlib.ExitStack()
_nbval_start_new_kernel = nbval.kernel.start_new_kernel


def start_new_kernel(**kwargs: Any) -> Any:
    """nbval's kernel start, repeated when the kernel died before it answered.

    A kernel starting at the same moment in another worker can take a port this one was told to
    bind (jupyter/jupyter_client#487); ``ormkit check`` starts again on new ports, and so does
    nbval here (:func:`ormkit.notebooks.start_again_if_it_died`).
    """
    return start_again_if_it_died(_nbval_start_new_kernel, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    nbval.kernel.start_new_kernel = start_new_kernel
    if resolve().is_default:  # not when $ORMKIT_DATABASE_URL names a database
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        _stack.enter_context(scratch_data_dir(f"ormkit-nbval-{worker}-"))
    _stack.enter_context(environ(_stack.enter_context(strict_kernels())))


def pytest_unconfigure(config: pytest.Config) -> None:
    nbval.kernel.start_new_kernel = _nbval_start_new_kernel
    _stack.close()
