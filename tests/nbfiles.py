"""Write small notebooks for tests (``ormkit check``, strict kernels, nbval)."""

from __future__ import annotations

from pathlib import Path


def write_notebook(path: Path, *sources: str) -> Path:
    """Write a notebook with one code cell per source, for the ``python3`` kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path
