"""JupyterLab configuration file for ``ormkit lab`` (passed with ``--config``; never imported).

The token travels in the server's environment (``ORMKIT_LAB_TOKEN``), which only its own user can
read, never on the command line (``ps`` shows that to every local user) nor in a file that
outlives the server. This file is loaded after the user's own Jupyter config, so a
``c.IdentityProvider.token = ''`` there cannot switch authentication off; without the variable
the server refuses to start. The variable is removed once read, so kernels and terminals do
not inherit it.
"""

import os

if "get_config" in globals():  # run by traitlets' config loader, not imported
    _token = os.environ.pop("ORMKIT_LAB_TOKEN", "").strip()
    if not _token:
        raise SystemExit("ormkit lab: no token given (ORMKIT_LAB_TOKEN); refusing to start")
    globals()["get_config"]().IdentityProvider.token = _token
