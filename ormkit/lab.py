"""What ``ormkit lab`` runs: JupyterLab on 127.0.0.1 with a fresh token, on a lessons folder.

Token authentication is always on: the token is random, never empty, and reaches JupyterLab
through its environment and :mod:`ormkit._lab_token_config` (see there why neither the command
line nor a token file). Nothing here leaves files behind.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import notebooks
from .notebooks import CopyReport, copy_lessons, lessons_are_packaged

LAB_HOST = "127.0.0.1"
LAB_DEFAULT_PORT = 8888
TOKEN_ENV_VAR = "ORMKIT_LAB_TOKEN"
TOKEN_CONFIG = Path(__file__).resolve().with_name("_lab_token_config.py")


def free_port(host: str = LAB_HOST) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LAB_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pick_port() -> int:
    """8888, else the next free port up to 8937, else any free port."""
    for port in range(LAB_DEFAULT_PORT, LAB_DEFAULT_PORT + 50):
        if port_is_free(port):
            return port
    return free_port()


def has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def new_token() -> str:
    """Return a fresh random token for JupyterLab (never empty)."""
    return secrets.token_hex(24)


def lab_url(port: int, token: str, path: str = "lab") -> str:
    return f"http://{LAB_HOST}:{port}/{path}?token={token}"


def lab_environ(token: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to start JupyterLab with: ``base`` (default ``os.environ``) and the token."""
    if not token or not token.strip():
        raise ValueError("JupyterLab needs a non-empty token; token authentication stays on")
    env = dict(os.environ if base is None else base)
    env[TOKEN_ENV_VAR] = token
    return env


def lab_command(
    *,
    port: int,
    notebook_dir: Path | None = None,
    open_browser: bool = False,
    allow_root: bool | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """Return the argv that starts JupyterLab on ``notebook_dir``: 127.0.0.1, token auth on.

    Start it with :func:`lab_environ`'s environment, which carries the token. ``port_retries=0``
    makes a busy port an error instead of a silent move to another port (the printed URL would
    be wrong). ``allow_root`` defaults to "running as root".
    """
    root = notebook_dir if notebook_dir is not None else notebooks.NOTEBOOK_DIR
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--config={TOKEN_CONFIG}",
        f"--ServerApp.ip={LAB_HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=" + ("True" if open_browser else "False"),
    ]
    if allow_root if allow_root is not None else is_root():
        cmd.append("--allow-root")
    cmd.extend(extra)
    return cmd


def default_lessons_home() -> Path:
    """Where an installed kit puts the learner's copy of the lessons: ``~/ormkit-lessons``."""
    return Path.home() / "ormkit-lessons"


def lessons_folder(given: str | Path | None) -> tuple[Path, CopyReport | None]:
    """The folder JupyterLab opens, and what was copied there (``None``: nothing to copy).

    A source checkout opens its own ``notebooks/``. An installed kit's lessons sit in
    site-packages, which a learner must never edit (an upgrade would wipe their work, and it may
    be read-only): they are copied to a folder the user owns, ``given`` or ``~/ormkit-lessons``,
    and files already there are kept as they are. Raises ``OSError`` if it cannot be written.
    """
    if given is None and not lessons_are_packaged():
        return notebooks.NOTEBOOK_DIR, None
    folder = (Path(given).expanduser() if given else default_lessons_home()).resolve()
    return folder, copy_lessons(folder)
