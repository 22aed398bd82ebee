"""A real JupyterHub on 127.0.0.1 for ``make test-hub`` and ``benchmarks/bench_class.py``.

What it builds, once per lock (cached under ``$ORMKIT_HUB_CACHE``, default
``/var/cache/ormkit-hub/<key>``, the key a hash of ``constraints.txt``, the interpreter and the
proxy's version):

- a virtualenv made with the system's Python (``$ORMKIT_HUB_PYTHON``, default Debian's
  ``/usr/bin/python3``), outside any home folder and readable by every user, holding JupyterHub,
  JupyterLab and the kit (``.[notebooks,postgresql,hub]`` with ``-c constraints.txt``). Every
  learner's server and kernel runs that Python, so it must be one they can read: this machine's
  own Python may live in a home folder of mode 0700. The kit itself is reinstalled from the
  checkout on every run (not editable: other users cannot read a checkout in root's home);
- configurable-http-proxy from npm, in ``<key>/npm``.

:class:`Hub` starts one hub (a dummy authenticator, one API token for the test with the scopes it
needs), as root with ``LocalProcessSpawner`` (each server runs as its own Unix user) or as one
unprivileged Unix user with ``SimpleLocalProcessSpawner`` (every server runs as that user, with one
shared home folder), starts each user's server through the hub's REST API and runs notebooks in
each user's kernel over the kernels API and its websocket. :func:`compare_outputs` applies
``notebooks/sanitize.cfg`` and compares what came back with the stored outputs, the way nbval does.
Everything started is stopped by PID; every Unix user and folder made is removed.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ORMKIT_HUB_CACHE", "/var/cache/ormkit-hub"))
SYSTEM_PYTHON = os.environ.get("ORMKIT_HUB_PYTHON", "/usr/bin/python3")
PROXY_PACKAGE = "configurable-http-proxy@5.3.0"
HOST = "127.0.0.1"
SANITIZE = REPO / "notebooks" / "sanitize.cfg"
# What nbval leaves out of its comparison by default (images and scripts vary by platform).
SKIPPED_MIME = ("image/", "application/javascript", "application/vnd.jupyter.widget")


def log(message: str) -> None:
    print(f"[hub] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# the environment: a readable venv and the proxy, cached per lock


@dataclass(frozen=True)
class HubEnv:
    root: Path
    venv: Path
    proxy: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _key() -> str:
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    digest = hashlib.sha256()
    for part in ((REPO / "constraints.txt").read_bytes(), version.encode(), PROXY_PACKAGE.encode()):
        digest.update(part)
    return digest.hexdigest()[:16]


def _check(cmd: list[str], **kwargs: Any) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


def prepare() -> HubEnv:
    """Build (or reuse) the readable hub venv and the proxy; reinstall the kit from the checkout."""
    if not Path(SYSTEM_PYTHON).is_file():
        raise RuntimeError(
            f"no system Python at {SYSTEM_PYTHON} (set ORMKIT_HUB_PYTHON to a Python >= 3.11 "
            "that every user can read)"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    CACHE.chmod(0o755)
    root = CACHE / _key()
    env = HubEnv(
        root, root / "venv", root / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
    )
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once share one build
        for stale in CACHE.iterdir():  # builds for other locks, unused for a day, go
            ready = stale / ".ready"
            unused = ready.exists() and time.time() - ready.stat().st_mtime > 86400
            if stale.is_dir() and stale != root and unused:
                shutil.rmtree(stale, ignore_errors=True)
        pip = [
            str(env.bin / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        if not (root / ".ready").exists():
            shutil.rmtree(root, ignore_errors=True)
            started = time.perf_counter()
            log(f"building the hub environment in {root} (once per constraints.txt)")
            _check([SYSTEM_PYTHON, "-m", "venv", str(env.venv)])
            _check([*pip, "--upgrade", "pip", "setuptools>=77"])  # setuptools: builds the kit
            _check([*pip, "-c", str(REPO / "constraints.txt"), f"{REPO}[notebooks,postgresql,hub]"])
            npm = root / "npm"
            npm.mkdir()
            _check(
                [
                    "npm",
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(npm),
                    PROXY_PACKAGE,
                ]
            )
            (root / ".ready").touch()
            log(f"built in {time.perf_counter() - started:.0f}s")
        (root / ".ready").touch()  # last used now
        # The kit as it is in this checkout now (not editable: the checkout may be unreadable).
        with tempfile.TemporaryDirectory() as build:
            source = Path(build) / "src"
            shutil.copytree(
                REPO,
                source,
                ignore=shutil.ignore_patterns(
                    ".venv", ".git", "data", "build", "dist", "*.egg-info", "__pycache__", ".*cache"
                ),
            )
            _check([*pip, "--no-deps", "--force-reinstall", "--no-build-isolation", str(source)])
        _check(["chmod", "-R", "a+rX", str(root)])
    return env


# --------------------------------------------------------------------------------------------
# Unix users


@dataclass(frozen=True)
class UnixUser:
    name: str
    uid: int
    gid: int
    home: Path


def add_unix_user(name: str, home: Path) -> UnixUser:
    _check(
        [
            "useradd",
            "--create-home",
            "--home-dir",
            str(home),
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            name,
        ]
    )
    entry = pwd.getpwnam(name)
    return UnixUser(name, entry.pw_uid, entry.pw_gid, home)


def remove_unix_user(user: UnixUser) -> None:
    subprocess.run(["userdel", user.name], capture_output=True, check=False)
    shutil.rmtree(user.home, ignore_errors=True)


def processes_of(uid: int) -> list[int]:
    """The PIDs of every process running as ``uid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
    return found


def stop_pids(pids: list[int], timeout: float = 10) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --------------------------------------------------------------------------------------------
# the hub


CONFIG = """\
import os

c = get_config()  # noqa: F821
c.JupyterHub.ip = {host!r}
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = {host!r}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://{host}:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.pid_file = {state!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {state!r} + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = {state!r} + "/cookie_secret"
c.JupyterHub.pid_file = {state!r} + "/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = {spawner!r}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.JupyterHub.services = [{{"name": "ormkit-test", "api_token": os.environ["ORMKIT_HUB_TOKEN"]}}]
c.JupyterHub.load_roles = [{{
    "name": "ormkit-test",
    "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
    "services": ["ormkit-test"],
}}]
{extra}
# ---- the README's recipe (JupyterHub section): lessons copied into each home, then the server.
c.Spawner.cmd = [
    "sh", "-c", 'ormkit lessons --dir {lessons_dir} && exec jupyterhub-singleuser "$@"', "--",
]
{recipe}
"""


@dataclass
class Hub:
    """One running hub; :meth:`start` it, then :meth:`stop` it (a ``with`` block does both)."""

    env: HubEnv
    spawner: str  # "localprocess" (servers run as their users) or "simple" (one uid for all)
    workdir: Path
    run_as: UnixUser | None = None  # the hub's own Unix user (None: root)
    shared_home: Path | None = None  # "simple": every server's HOME
    recipe: str = ""  # more configuration (the README's per-user database snippet)
    lessons_dir: str = '"$HOME/ormkit-lessons"'  # a shell word: where each server copies them
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self, timeout: float = 120) -> None:
        from ormkit.lab import free_port

        state = self.workdir / "state"
        state.mkdir(parents=True)
        self.port = free_port()
        extra = ""
        if self.spawner == "simple":
            assert self.shared_home is not None
            home = str(self.shared_home)
            extra = (
                f"c.SimpleLocalProcessSpawner.home_dir_template = {home!r}\n"
                # The README's shared-home line: IPython's history database per hub user (one
                # ~/.ipython for a class: "database is locked" printed into cells at 32 learners).
                "c.Spawner.environment.update({'IPYTHONDIR': lambda spawner: "
                f"{home!r} + '/.ipython-users/' + spawner.user.name}})"
            )
        (self.workdir / "jupyterhub_config.py").write_text(
            CONFIG.format(
                host=HOST,
                port=self.port,
                hub_port=free_port(),
                api_port=free_port(),
                proxy=str(self.env.proxy),
                state=str(state),
                spawner=self.spawner,
                extra=extra,
                recipe=self.recipe,
                lessons_dir=self.lessons_dir,
            )
        )
        if self.run_as is not None:
            _check(["chown", "-R", f"{self.run_as.uid}:{self.run_as.gid}", str(self.workdir)])
        environ = {
            "PATH": f"{self.env.bin}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.run_as.home if self.run_as else self.workdir),
            "ORMKIT_HUB_TOKEN": self.token,
        }
        self._log = open(self.workdir / "hub.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(self.env.bin / "jupyterhub"), "-f", str(self.workdir / "jupyterhub_config.py")],
            cwd=self.workdir,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            user=self.run_as.uid if self.run_as else None,
            group=self.run_as.gid if self.run_as else None,
            extra_groups=[] if self.run_as else None,
            start_new_session=True,
        )
        started = time.monotonic()
        deadline = started + timeout
        while True:
            try:
                self.api("GET", "/hub/api/")
                log(f"{self.spawner} hub up on {self.url} in {time.monotonic() - started:.1f}s")
                return
            except (OSError, urllib.error.URLError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the hub did not start:\n{self.log_tail()}") from None
                time.sleep(0.3)

    def log_tail(self, chars: int = 4000) -> str:
        path = self.workdir / "hub.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def start_server(self, name: str, timeout: float = 180) -> None:
        """Create hub user ``name``, start their server through the REST API, wait till ready."""
        self.request_server(name)
        self.wait_ready(name, timeout)

    def request_server(self, name: str) -> None:
        """Create hub user ``name`` (if new) and ask the hub to start their server."""
        with contextlib.suppress(urllib.error.HTTPError):  # 409: exists already
            self.api("POST", f"/hub/api/users/{name}")
        self.api("POST", f"/hub/api/users/{name}/server")

    def wait_ready(self, name: str, timeout: float = 180) -> None:
        """Wait until ``name``'s server is up (the hub's ``ready`` flag)."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            server = (self.api("GET", f"/hub/api/users/{name}") or {}).get("servers", {}).get("")
            if server and server.get("ready"):
                log(f"{name}'s server ready in {time.monotonic() - started:.1f}s")
                return
            time.sleep(0.5)
        raise RuntimeError(f"{name}'s server did not become ready:\n{self.log_tail()}")

    def stop_server(self, name: str) -> None:
        with contextlib.suppress(urllib.error.HTTPError):
            self.api("DELETE", f"/hub/api/users/{name}/server")

    def proxy_pid(self) -> int | None:
        path = self.workdir / "state" / "proxy.pid"
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text().strip())
        return None

    def stop(self) -> list[int]:
        """Stop the hub (SIGTERM to its PID, which stops its proxy and servers); return the PIDs
        of anything that outlived it (the proxy, a server), which are then stopped too."""
        left: list[int] = []
        if self.process is not None:
            proxy = self.proxy_pid()
            stop_pids([self.process.pid], timeout=30)
            self.process.wait()
            if proxy is not None and _alive(proxy):
                left.append(proxy)
            if self.run_as is not None:
                left += processes_of(self.run_as.uid)
            stop_pids(left)
            self._log.close()
        return left

    def __enter__(self) -> Hub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# running a notebook in a user's kernel


@dataclass
class CellRun:
    index: int
    source: str
    outputs: list[dict[str, Any]]
    status: str


class Kernel:
    """A kernel in one user's server, driven over the kernels REST API and its websocket."""

    def __init__(self, hub: Hub, user: str, path: str = "") -> None:
        self.hub, self.user, self.path = hub, user, path
        self.kernel_id = ""
        self.socket: Any = None
        self.session = secrets.token_hex(8)

    def _base(self) -> str:
        return f"/user/{self.user}/api/kernels"

    async def __aenter__(self) -> Kernel:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        created = await asyncio.to_thread(
            self.hub.api, "POST", self._base(), {"name": "python3", "path": self.path}
        )
        self.kernel_id = created["id"]
        ws_url = f"ws://{HOST}:{self.hub.port}{self._base()}/{self.kernel_id}/channels"
        request = HTTPRequest(
            ws_url, headers={"Authorization": f"token {self.hub.token}"}, request_timeout=60
        )
        self.socket = await websocket_connect(request, max_message_size=64 * 2**20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.socket is not None:
            self.socket.close()
        with contextlib.suppress(OSError, urllib.error.URLError):
            await asyncio.to_thread(self.hub.api, "DELETE", f"{self._base()}/{self.kernel_id}")

    async def execute(self, code: str, timeout: float = 300) -> tuple[str, list[dict[str, Any]]]:
        """Run ``code``; return the reply's status and the outputs as a notebook stores them."""
        msg_id = secrets.token_hex(16)
        message = {
            "header": {
                "msg_id": msg_id,
                "username": self.user,
                "session": self.session,
                "msg_type": "execute_request",
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "channel": "shell",
            "buffers": [],
        }
        await self.socket.write_message(json.dumps(message))
        outputs: list[dict[str, Any]] = []
        status, idle = "", False
        deadline = time.monotonic() + timeout
        while not (status and idle):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.user}: no reply in {timeout}s to {code[:80]!r}")
            raw = await asyncio.wait_for(self.socket.read_message(), left)
            if raw is None:
                raise ConnectionError(f"{self.user}: the kernel's websocket closed")
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if msg["channel"] == "shell" and kind == "execute_reply":
                status = content["status"]
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "stream":
                outputs.append(
                    {"output_type": "stream", "name": content["name"], "text": content["text"]}
                )
            elif kind in ("execute_result", "display_data"):
                outputs.append({"output_type": kind, "data": content["data"]})
            elif kind == "error":
                outputs.append(
                    {"output_type": "error", "ename": content["ename"], "evalue": content["evalue"]}
                )
            elif kind == "clear_output":
                outputs.clear()
        return status, outputs


def code_cells(notebook: dict[str, Any]) -> list[tuple[int, str, list[str], list[dict[str, Any]]]]:
    """(index, source, tags, stored outputs) of every code cell that nbval would run."""
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if "nbval-skip" in tags or "skip-execution" in tags:
            continue
        source = cell["source"]
        cells.append(
            (
                index,
                "".join(source) if isinstance(source, list) else source,
                tags,
                cell.get("outputs", []),
            )
        )
    return cells


def _sanitizers() -> list[tuple[re.Pattern[str], str]]:
    parser = configparser.ConfigParser()
    parser.read(SANITIZE)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def normalize(outputs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Outputs as nbval compares them: sanitized text, consecutive streams of one name merged,
    images and scripts left out, tracebacks left out (an error is its name and message)."""
    rules = _sanitizers()

    def clean(text: str) -> str:
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        return text

    found: list[tuple[str, ...]] = []
    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            text = _text(output["text"])
            if found and found[-1][0] == "stream" and found[-1][1] == output["name"]:
                found[-1] = ("stream", output["name"], found[-1][2] + text)
            else:
                found.append(("stream", output["name"], text))
        elif kind in ("execute_result", "display_data"):
            for mime, value in sorted(output["data"].items()):
                if not mime.startswith(SKIPPED_MIME):
                    found.append((kind, mime, _text(value)))
        elif kind == "error":
            found.append(("error", output["ename"], output["evalue"]))
    return [tuple(clean(part) for part in item) for item in found]


@dataclass
class Mismatch:
    cell: int
    source: str
    expected: list[tuple[str, ...]]
    got: list[tuple[str, ...]]

    def __str__(self) -> str:
        return (
            f"cell {self.cell}: {self.source.splitlines()[0] if self.source else ''!r}\n"
            f"  stored: {self.expected}\n  got:    {self.got}"
        )


async def run_notebook(
    kernel: Kernel,
    notebook: dict[str, Any],
    barrier: asyncio.Barrier | None = None,
    expected: dict[str, Any] | None = None,
) -> list[Mismatch]:
    """Run every code cell in ``kernel`` (in step with other learners at ``barrier``, cell by
    cell) and return the cells whose outputs differ from the stored ones (or from those of
    ``expected``, the same notebook run elsewhere)."""
    mismatches = []
    reference = {index: outputs for index, _, _, outputs in code_cells(expected or notebook)}
    for index, source, tags, _ in code_cells(notebook):
        stored = reference[index]
        if barrier is not None:
            await barrier.wait()
        status, outputs = await kernel.execute(source)
        if "nbval-ignore-output" in tags:
            continue
        if status != "ok" and "raises-exception" not in tags:
            mismatches.append(Mismatch(index, source, normalize(stored), normalize(outputs)))
            continue
        if normalize(outputs) != normalize(stored):
            mismatches.append(Mismatch(index, source, normalize(stored), normalize(outputs)))
    return mismatches
