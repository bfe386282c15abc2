# Two entry points for a fresh machine: `make run` starts the dashboard,
# `make test` runs the whole test suite. Both create .venv from
# requirements.txt when it is missing or older than requirements.txt.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.requirements-installed

.PHONY: run test venv system-packages data

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need (Chromium and its driver, Slurm, munge); installed
# only when running as root and missing.
system-packages:
	bash scripts/install_system_packages.sh

run: venv
	$(VENV)/bin/python app.py $(ARGS)

test: venv system-packages
	bash scripts/run_tests.sh $(ARGS)

# Regenerate the embedded default dataset (about 15 minutes on 2 cores).
data: venv
	$(VENV)/bin/python scripts/make_default_data.py
