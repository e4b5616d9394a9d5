# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# The CPU build of torch lies in /opt/wheels on these machines; pip's defaults reach the rest.
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: install test test-postgres test-slow demo bench serve portal clean ci

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(WHEELS) -c constraints.txt -e ".[all,dev]"
	touch $@

test: install
	$(PY) -m pytest

# The database-touching tests on a throwaway PostgreSQL server (.ci/postgres.sh: installs
# Debian's postgresql if missing, which needs root; listens on 127.0.0.1 only).
test-postgres: install
	.ci/test-postgres.sh

# What CI runs: test-postgres, then test.
ci:
	.ci/run

test-slow: install
	$(PY) -m pytest -m slow

# `make demo DEMO_ARGS="--quick --model tiny"`; see `prefmarket demo --help`.
demo: install
	$(VENV)/bin/prefmarket demo $(DEMO_ARGS)

bench: install
	$(PY) -m bench

serve: install
	$(VENV)/bin/prefmarket serve

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
