# The README's two commands: `make run` and `make test`. Both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint unit browser lock migration clean bench

run: $(STAMP)
	$(VENV)/bin/mes-sandbox up

test: $(STAMP) browser lint
	$(VENV)/bin/pytest -n 2 -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services shared
	$(VENV)/bin/lint-imports

# .venv with the pinned dependencies (requirements.lock) and the project in editable mode.
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --python $(PY) --compile-bytecode requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps --editable .
	$(PY) -m compileall -q services shared
	touch $(STAMP)

# Browser tests drive Debian's chromium (no browser download); install it when missing.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; \
	  else echo "the browser tests need chromium at $(CHROMIUM) (apt-get install chromium)"; exit 1; fi; }

# Regenerate the locks after changing dependencies in pyproject.toml (the Docker image
# installs the runtime one; .venv the one with the development tools).
lock: $(STAMP)
	$(UV) pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(UV) pip compile --quiet pyproject.toml --python-version 3.11 -o requirements-runtime.lock

# make migration NAME=dmp MSG="what changed": autogenerate an Alembic revision.
migration: $(STAMP)
	$(PY) -m shared.db.migrate services.$(NAME):migrations "$(MSG)"

bench: $(STAMP)
	$(PY) -m bench.startup

clean:
	rm -rf $(VENV) .mes-sandbox .pytest_cache .mypy_cache .ruff_cache
