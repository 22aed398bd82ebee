"""nbval runs notebooks in parallel workers; give each worker its own default database.

Every lesson resets the database at its start, so lessons that share one database in sequence
are fine (that is how a learner runs them), but two running at once must not.
"""

import os
import tempfile

_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
if "ORMKIT_DATABASE_URL" not in os.environ:
    os.environ["ORMKIT_DATA_DIR"] = tempfile.mkdtemp(prefix=f"ormkit-nbval-{_worker}-")

# No deprecated API in any lesson: the kernels nbval starts inherit this environment, so a
# DeprecationWarning (SQLAlchemy's SADeprecationWarning included) raised by a cell's code becomes
# an error in that cell and fails the run. Appended, so a PYTHONWARNINGS already set still applies.
_STRICT = "error::DeprecationWarning"
_current = os.environ.get("PYTHONWARNINGS", "")
if _STRICT not in _current.split(","):
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [_current, _STRICT]))
