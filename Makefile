# The README's two commands: `make book` (the main job) and `make test` (every test).
# Both create the virtual environment when it is missing. TORCH is the pip requirement for
# PyTorch (the CPU wheel here); to pick another build, point pip at PyTorch's index, e.g.
# `PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu124 make book TORCH=torch`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
JOBS ?= 2
CELL_TIMEOUT ?= 1800
BOOK_EXECUTE ?= force
BOOK_FLAGS := -W -n --keep-going
CHAPTERS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: book notebooks test lint venv clean gpu-check

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# numpy with torch: the torch wheel does not require it, and `import torch` without numpy
	# warns "Failed to initialize NumPy" (the check below would print that warning)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)" "numpy>=1.24" 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import torch" || { echo "torch did not install: check TORCH=$(TORCH)"; exit 1; }
	$(PY) -m pip install -q --disable-pip-version-check -e ".[book,dev]" 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import negrec_lib, jupyter_book, nbval, hypothesis" || { echo "install failed"; exit 1; }
	test -x $(VENV)/bin/ruff && test -x $(VENV)/bin/mypy || { echo "install failed: ruff, mypy"; exit 1; }
	touch $@

# The main job: build the book at _build/html, re-executing every chapter under the detected
# profile (NEGREC_PROFILE, else gpu with CUDA, else cpu). jupyter-book runs the chapters in memory
# through a derived copy of _config.yml (execute_notebooks: force, CELL_TIMEOUT s per cell, a failing
# cell fails the build); the committed notebooks are not rewritten. stderr of the fresh run is left
# out of the pages (the committed outputs must have none: tests/test_book.py). BOOK_EXECUTE=off
# renders the committed outputs instead (what CI and the published site do).
book: venv
ifeq ($(BOOK_EXECUTE),off)
	$(VENV)/bin/jupyter-book build . $(BOOK_FLAGS)
else
	@echo "make book: executing $(words $(CHAPTERS)) chapters under profile $$($(PY) -c 'from negrec_lib.config import detect_profile; print(detect_profile())')"
	$(PY) book/build_tools.py config --timeout $(CELL_TIMEOUT) --out _build/_config.execute.yml
	$(VENV)/bin/jupyter-book build . --config _build/_config.execute.yml --all $(BOOK_FLAGS)
endif
	@echo "The book is at _build/html/index.html"

# Maintainers: refresh the committed outputs (chapters executed in place under the cpu profile,
# widget state saved). Review the diff, then commit.
notebooks: venv
	NEGREC_PROFILE=cpu $(PY) book/build_tools.py execute --timeout $(CELL_TIMEOUT) $(CHAPTERS)

# Every test: the lint, format and type checks (make lint), unit tests, the book build and browser
# checks (tests/), the docstring examples of negrec_lib (--doctest-modules, in pyproject.toml), and
# every chapter executed by nbval under the ci profile. --dist loadfile keeps a notebook's cells on one worker; one torch
# thread per worker (two workers on two cores: more threads only fight over the cores).
test: lint
	NEGREC_PROFILE=ci OMP_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --durations=15 \
		--nbval-lax --ignore=_build tests negrec_lib $(if $(CHAPTERS),notebooks)

# The tools that keep the code in shape (settings in pyproject.toml): ruff's linter and formatter
# over the repository, mypy over the core (MYPY_PATHS). RUFF_PENDING: paths that were being edited
# when ruff arrived and are not yet formatted; `make lint` leaves them out. To take one in, run
# `$(VENV)/bin/ruff format PATH && $(VENV)/bin/ruff check --fix PATH`, fix what remains, and delete
# it here (the goal: an empty list).
RUFF_PENDING ?=
MYPY_PATHS ?= negrec_lib/tokens.py negrec_lib/config/ negrec_lib/model/ negrec_lib/losses/ \
	negrec_lib/metrics/ negrec_lib/optim.py negrec_lib/checkpoint/ negrec_lib/provenance.py \
	negrec_lib/runs.py negrec_lib/train/ negrec_lib/data/sessions.py negrec_lib/data/prepared_read.py negrec_lib/cli/ \
	negrec_lib/data/csv_parse.py \
	negrec_lib/__init__.py negrec_lib/step.py negrec_lib/track_table.py negrec_lib/study/stats.py
comma := ,
empty :=
space := $(empty) $(empty)
RUFF_SKIP := $(if $(strip $(RUFF_PENDING)),--extend-exclude "$(subst $(space),$(comma),$(strip $(RUFF_PENDING)))")

lint: venv
	$(VENV)/bin/ruff check $(RUFF_SKIP) .
	$(VENV)/bin/ruff format --check $(RUFF_SKIP) .
	$(VENV)/bin/mypy $(MYPY_PATHS)

# On a CUDA machine (issue 14): train the paper's configuration at 10 k, 100 k and 1 M tracks in
# bf16 and fp16, eager and compiled, then execute chapters 3 and 4 under the gpu profile in a
# scratch copy; writes results/bench_gpu.json (see benchmarks/gpu.py; --dry-run on a CPU).
# Without network (a lent GPU): PYTHONPATH=. python3 benchmarks/gpu.py --out <anywhere>.json
GPU_CHECK_FLAGS ?=
gpu-check: venv
	$(PY) benchmarks/gpu.py --out results/bench_gpu.json $(GPU_CHECK_FLAGS)

clean:
	rm -rf _build data runs .pytest_cache
