# Two commands: `make run` (the whole console on this machine) and `make test` (the whole suite).
# With DATABASE_URL / REDIS_URL unset both use the embedded default: SQLite in var/ and a private Redis.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

# The first Python >= 3.12 found: python3.12 (see .python-version), newer ones, then pyenv's versions.
PYTHON ?= $(shell for candidate in python3.12 python3.13 python3.14 python3 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	  path=$$(command -v $$candidate 2>/dev/null) || continue; \
	  $$path -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	    && $$path -c 'import sys; print(sys.executable)' && break; \
	done)

.PHONY: run test test-e2e mutation install install-test browser promtool translations clean

# RUN_ARGS: options of runconsole, e.g. RUN_ARGS="--port 8100 --no-demo".
run: install translations
	@DEBUG=$${DEBUG:-1} SANDBOX=$${SANDBOX:-1} exec $(PY) manage.py runconsole $(RUN_ARGS)

# pytest exits 5 when nothing was collected: not a failure, but said out loud.
define pytest
	@$(PY) -m pytest $(1) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then \
	  echo "ATTENTION : aucun test collecté (code 5 de pytest) : rien n'a échoué, rien n'a été vérifié." >&2; exit 0; \
	fi; exit $$status
endef

test: install-test browser promtool translations
	$(call pytest,)

test-e2e: install-test browser translations
	$(call pytest,-m e2e)

# Mutation testing of the critical modules, each against its own tests (tests/mutation_targets.toml); writes
# tests/MUTATION.md. Slow, so not part of `make test`. One module: make mutation MODULE=apps/revolut/payments.py (or a
# comma-separated list).
# MUTATION_JOBS: mutants tested at once (default 1: the test database is shared by the mutants of a run).
# MUTATION_TARGETS_AT_ONCE: modules measured side by side (default 1), e.g. 2 on a machine with two cores to spare.
# Targets marked postgresql are measured on DATABASE_URL when it names PostgreSQL, the others on SQLite.
# STALE=1: only the modules whose row is missing or older than a change to the module or its own tests.
# RETEST=1: re-run only the mutants the last run of MODULE did not kill, with the current tests.
mutation: install-test translations
	@MODULE="$(MODULE)" MUTATION_JOBS="$(MUTATION_JOBS)" MUTATION_TARGETS_AT_ONCE="$(MUTATION_TARGETS_AT_ONCE)" \
		MUTATION_STALE="$(STALE)" MUTATION_RETEST="$(RETEST)" $(PY) tools/mutation.py

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

# The browser journeys drive Debian's Chromium (never a downloaded browser): installed here when missing, so
# `make test` on a fresh Debian machine needs nothing else (as root, or through sudo when it is there).
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  command -v apt-get >/dev/null || { echo "$(CHROMIUM) absent et apt-get introuvable : installez Chromium." >&2; exit 1; }; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "Installation de Chromium (navigateur des tests e2e)…"; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y chromium; \
	fi

# The alert rules (deploy/prometheus/) are checked and unit-tested with promtool, from Debian's prometheus package.
PROMTOOL := /usr/bin/promtool
promtool:
	@if [ ! -x $(PROMTOOL) ] && ! command -v promtool >/dev/null; then \
	  command -v apt-get >/dev/null || { echo "promtool absent et apt-get introuvable : installez le paquet prometheus." >&2; exit 1; }; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "Installation de prometheus (promtool, pour vérifier les règles d'alerte)…"; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends prometheus; \
	fi

translations: install
	@$(PY) -m config.compile_translations

$(PY):
	@test -n "$(PYTHON)" || { echo "Python 3.12 ou plus récent introuvable (python3.12, pyenv)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Dependencies only, pinned in pyproject.toml (the project itself is not a package to install).
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > $(VENV)/requirements-run.txt
	$(PY) -m pip install --quiet -r $(VENV)/requirements-run.txt
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]))' > $(VENV)/requirements-test.txt
	$(PY) -m pip install --quiet -r $(VENV)/requirements-test.txt
	@touch $@

clean:
	rm -rf $(VENV) var/staticfiles
	find . -name '*.mo' -path '*/locale/*' -delete
