# Every target bootstraps .venv on a fresh machine (only Python 3.11+ needed) and reuses it after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_NOTEBOOKS := notebooks
NBVAL_FLAGS := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: help venv lab test lint unit nbval nbval-servers test-servers test-hub regen bench clean \
	constraints lock-check matrix wheel site

help:
	@echo "make lab          start JupyterLab on notebooks/ (127.0.0.1, token auth)"
	@echo "make test         lint + unit tests + strict nbval on every notebook"
	@echo "make regen        re-execute every notebook in place (refresh stored outputs)"
	@echo "make test-servers run tests and notebooks (lax) on reachable PostgreSQL / MariaDB"
	@echo "make test-hub     a real JupyterHub on 127.0.0.1: a class runs a lesson at once (root)"
	@echo "make bench        run the benchmarks (ratios to raw baselines and to peers)"
	@echo "make matrix       make test in fresh Debian 12 / 13 / sid chroots (root; Python 3.11-3.14)"
	@echo "make lock-check   check that constraints.txt installs on Python 3.11.0-3.14, every OS"
	@echo "make wheel        build the wheel and sdist into dist/ (lessons and solutions included)"
	@echo "make site         the course website from the stored outputs into site/ (offline)"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

lab: $(STAMP)
	$(BIN)/ormkit lab

lint: $(STAMP)
	$(BIN)/ruff check ormkit tests notebooks benchmarks tools
	$(BIN)/ruff format --check ormkit tests benchmarks tools
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope

nbval: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope $(NBVAL_FLAGS) notebooks

# nbval re-executes every notebook and compares each stored output: a stale output fails here.
test: lint unit nbval nbval-servers

regen: $(STAMP)
	$(BIN)/python -m ormkit.notebooks

# Server tests, then every notebook under nbval-lax on each reachable server (PostgreSQL,
# MariaDB/MySQL), each in a database of its own that is dropped afterwards. Unreachable servers are
# skipped, unless ORMKIT_REQUIRE_BACKENDS names them (see tests/backends.py).
test-servers: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope -m servers
	$(MAKE) nbval-servers

nbval-servers: $(STAMP)
	$(BIN)/python tests/backends.py notebooks

# A real JupyterHub (PyPI) and configurable-http-proxy (npm) on 127.0.0.1, test Unix users, lesson 02
# in every learner's kernel at once (tests/test_hub.py). Needs root and npm; the hub's own venv
# (system Python, readable by every user) is built once per constraints.txt in $$ORMKIT_HUB_CACHE
# (default /var/cache/ormkit-hub) and reused.
test-hub: $(STAMP)
	ORMKIT_TEST_HUB=1 $(BIN)/python -m pytest -p no:cacheprovider -v --durations=0 tests/test_hub.py

# The peers (ADBC PostgreSQL, connectorx) come from the bench extra, installed only here.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,bench]"
	$(BIN)/python benchmarks/run_all.py

# constraints.txt is a universal lock (every Python >= 3.11.0, Linux/macOS/Windows): see tools/lock.py.
constraints: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python tools/lock.py write

# Every pin of constraints.txt has a wheel for Python 3.11.0-3.14 on Linux, macOS and Windows.
lock-check: $(STAMP)
	$(BIN)/python tools/lock.py check

# The sdist, and the wheel built from it (so the sdist is proved complete): lessons included.
wheel: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# The course website (Jupyter Book 1) from the lessons' stored outputs, into the git-ignored site/;
# Mermaid's JavaScript comes from the npm registry once and is cached in .cache/site/.
site: $(STAMP)
	$(BIN)/python tools/site.py

# make test from a fresh clone inside Debian 12 (Python 3.11.2), 13 (3.13) and sid (3.14) chroots.
matrix:
	bash .ci/matrix

clean:
	rm -rf $(VENV) data dist build site .cache .pytest_cache .ruff_cache
