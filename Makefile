# The README's two commands: `make book` (the main job) and `make test` (every test).
# Both create the virtual environment when it is missing. Override TORCH for a CUDA build,
# e.g. `make book TORCH="torch --index-url https://download.pytorch.org/whl/cu124"`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
JOBS ?= 2

.PHONY: book test venv pipeline clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)" 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import torch" || { echo "torch did not install: check TORCH=$(TORCH)"; exit 1; }
	$(PY) -m pip install -q --disable-pip-version-check -e ".[book,dev]" 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import negrec_lib, jupyter_book, nbval, hypothesis" || { echo "install failed"; exit 1; }
	touch $@

# The main job: simulate MSSD-format data, prepare it, and (once the book exists) build the book.
book: venv
	$(VENV)/bin/negrec simulate --profile auto --out data/simulated --force
	$(VENV)/bin/negrec prepare --input data/simulated --out data/prepared --force

test: venv
	$(PY) -m pytest -n $(JOBS) --durations=15

clean:
	rm -rf _build data/simulated data/prepared .pytest_cache
